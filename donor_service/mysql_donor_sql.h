// The MySQL donor store's SQL text, shared by its .cc files (mysql_donor_rows.cc,
// mysql_donor_store*.cc) and included by nothing else. Every statement is a constant with `?`
// parameters; the filters of a list are constant fragments appended to it, never input.
#ifndef BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_SQL_H_
#define BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_SQL_H_

#include <string>

namespace bloodgrid::donor {

// Instants are DATETIME(6) in UTC, passed and read as "YYYY-MM-DD HH:MM:SS.ffffff".

// DeferralInForceOn (donor_rules.h) over the deferrals row `f`, the one SQL form of it: every
// query that filters by "in force" appends this and binds it with Params::DeferralInForce.
inline constexpr char kDeferralInForce[] =
    " f.voided = FALSE AND f.start_date <= ? AND (f.ends_on IS NULL OR f.ends_on > ?)";

// The donor columns plus the output-only flags computed as of a day (BindDonorDay binds them).
inline constexpr char kDonorColumns[] =
    "SELECT d.donor_id, d.national_id, d.name, d.sex, d.birth_date, d.abo, d.rhd,"
    " d.blood_type_confirmed, d.phone, d.email, d.address, d.home_station_id, d.donation_count,"
    " d.last_donation_date, d.had_adverse_reaction, d.version, d.created_at, d.updated_at,"
    " (SELECT GROUP_CONCAT(p.panel ORDER BY p.panel) FROM donor_panels p"
    "   WHERE p.donor_id = d.donor_id) AS panels,";
inline constexpr char kDonorDeferred[] =
    " EXISTS (SELECT 1 FROM deferrals f WHERE f.donor_id = d.donor_id AND";
// PermanentDeferralInForceOn: the kind is bound (IsPermanentDeferral's kind).
inline constexpr char kDonorPermanentlyDeferred[] =
    " EXISTS (SELECT 1 FROM deferrals f WHERE f.donor_id = d.donor_id AND f.kind = ? AND";
inline constexpr char kDonorOpenConflict[] =
    " EXISTS (SELECT 1 FROM blood_type_conflicts c WHERE c.donor_id = d.donor_id"
    "   AND c.resolved = FALSE) AS open_conflict"
    " FROM donors d";

inline constexpr char kDonorById[] = " WHERE d.donor_id = ?";
inline constexpr char kLockDonor[] = "SELECT version FROM donors WHERE donor_id = ? FOR UPDATE";
inline constexpr char kDonorIdByNationalId[] = "SELECT donor_id FROM donors WHERE national_id = ?";
inline constexpr char kInsertDonor[] =
    "INSERT INTO donors (donor_id, national_id, name, sex, birth_date, abo, rhd, phone, email,"
    " address, home_station_id, version, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)";
inline constexpr char kUpdateDonor[] =
    "UPDATE donors SET national_id = ?, name = ?, sex = ?, birth_date = ?, phone = ?, email = ?,"
    " address = ?, home_station_id = ?, version = version + 1, updated_at = ? WHERE donor_id = ?";
inline constexpr char kInsertPanel[] = "INSERT INTO donor_panels (donor_id, panel) VALUES (?, ?)";
inline constexpr char kDeletePanels[] = "DELETE FROM donor_panels WHERE donor_id = ?";
inline constexpr char kInsertAccount[] =
    "INSERT INTO reimbursement_accounts (donor_id, updated_at) VALUES (?, ?)";
inline constexpr char kInsertAudit[] =
    "INSERT INTO audit_log (occurred_at, actor, request_id, action, donor_id, entity, entity_id,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kLastInsertId[] = "SELECT LAST_INSERT_ID()";

// SearchDonors: DonorSelect() + " WHERE TRUE" + the fragments of the filters given.
inline constexpr char kWhereTrue[] = " WHERE TRUE";
inline constexpr char kFilterNationalId[] = " AND d.national_id = ?";
inline constexpr char kFilterNamePrefix[] = " AND d.name LIKE ?";
inline constexpr char kFilterPhone[] = " AND d.phone = ?";
inline constexpr char kFilterBloodType[] = " AND d.abo = ? AND d.rhd = ?";
inline constexpr char kFilterPanel[] =
    " AND EXISTS (SELECT 1 FROM donor_panels p2 WHERE p2.donor_id = d.donor_id AND p2.panel = ?)";
inline constexpr char kFilterHomeStation[] = " AND d.home_station_id = ?";
inline constexpr char kSearchAfter[] = " AND (d.name > ? OR (d.name = ? AND d.donor_id > ?))";
inline constexpr char kSearchOrder[] = " ORDER BY d.name, d.donor_id LIMIT ?";

// Blood typing.
inline constexpr char kSelectTyping[] =
    "SELECT outcome, conflict_id FROM blood_typings WHERE donor_id = ? AND din = ?";
inline constexpr char kInsertTyping[] =
    "INSERT INTO blood_typings (donor_id, din, abo, rhd, typed_at, outcome, conflict_id,"
    " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kSetBloodType[] =
    "UPDATE donors SET abo = ?, rhd = ?, blood_type_confirmed = TRUE, version = version + 1,"
    " updated_at = ? WHERE donor_id = ?";
inline constexpr char kConflictSelect[] =
    "SELECT conflict_id, donor_id, din, recorded_abo, recorded_rhd, typed_abo, typed_rhd,"
    " created_at, resolved, resolved_abo, resolved_rhd, resolved_by, resolution_note, resolved_at"
    " FROM blood_type_conflicts c";
inline constexpr char kConflictById[] = " WHERE c.conflict_id = ?";
inline constexpr char kConflictByIdForUpdate[] = " WHERE c.conflict_id = ? FOR UPDATE";
inline constexpr char kInsertConflict[] =
    "INSERT INTO blood_type_conflicts (donor_id, din, recorded_abo, recorded_rhd, typed_abo,"
    " typed_rhd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kResolveConflict[] =
    "UPDATE blood_type_conflicts SET resolved = TRUE, resolved_abo = ?, resolved_rhd = ?,"
    " resolved_by = ?, resolution_note = ?, resolved_at = ? WHERE conflict_id = ?";
inline constexpr char kFilterConflictDonor[] = " AND c.donor_id = ?";
inline constexpr char kFilterConflictOpen[] = " AND c.resolved = FALSE";
inline constexpr char kConflictAfter[] =
    " AND (c.created_at < ? OR (c.created_at = ? AND c.conflict_id < ?))";
inline constexpr char kConflictOrder[] = " ORDER BY c.created_at DESC, c.conflict_id DESC LIMIT ?";

// Deferrals.
inline constexpr char kDeferralSelect[] =
    "SELECT deferral_id, donor_id, kind, reason_code, note, start_date, ends_on, reactive_test,"
    " din, deferred_by, created_at, voided, voided_by, void_reason, voided_at FROM deferrals f";
inline constexpr char kDeferralById[] = " WHERE f.deferral_id = ?";
inline constexpr char kDeferralByIdForUpdate[] = " WHERE f.deferral_id = ? FOR UPDATE";
inline constexpr char kDeferralByReactive[] =
    " WHERE f.donor_id = ? AND f.din = ? AND f.reactive_test = ?";
inline constexpr char kDeferralsOfDonor[] = " WHERE f.donor_id = ?";
inline constexpr char kAnd[] = " AND";
inline constexpr char kDeferralAfter[] =
    " AND (f.start_date < ? OR (f.start_date = ? AND f.deferral_id < ?))";
inline constexpr char kDeferralOrder[] = " ORDER BY f.start_date DESC, f.deferral_id DESC LIMIT ?";
// The deferrals of one donor in force on a day, oldest first: + kDeferralInForce + order.
inline constexpr char kDeferralsInForceOfDonor[] =
    "SELECT f.deferral_id, f.reason_code, f.ends_on FROM deferrals f WHERE f.donor_id = ? AND";
inline constexpr char kDeferralsInForceOrder[] = " ORDER BY f.start_date, f.deferral_id";
inline constexpr char kInsertDeferral[] =
    "INSERT INTO deferrals (donor_id, kind, reason_code, note, start_date, ends_on, reactive_test,"
    " din, deferred_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kVoidDeferral[] =
    "UPDATE deferrals SET voided = TRUE, voided_by = ?, void_reason = ?, voided_at = ?"
    " WHERE deferral_id = ?";

// Donations.
inline constexpr char kDonationSelect[] =
    "SELECT donation_id, donor_id, din, donation_type, volume_ml, station_id, collected_at,"
    " collection_date, weight_kg, hemoglobin_g_l, systolic_mmhg, diastolic_mmhg, pulse_bpm,"
    " hematocrit, platelet_count_e9_l, adverse_reaction, reactive, anticoagulant, product_code,"
    " recorded_at, voided, voided_by, void_reason, voided_at FROM donations n";
inline constexpr char kDonationByDin[] = " WHERE n.din = ?";
inline constexpr char kDonationsOfDonor[] = " WHERE n.donor_id = ?";
inline constexpr char kDonationAfter[] =
    " AND (n.collected_at < ? OR (n.collected_at = ? AND n.donation_id < ?))";
inline constexpr char kDonationOrder[] =
    " ORDER BY n.collected_at DESC, n.donation_id DESC LIMIT ?";
inline constexpr char kDonorHistory[] =
    "SELECT collection_date, donation_type, volume_ml FROM donations WHERE donor_id = ?"
    " AND NOT voided ORDER BY collection_date";
inline constexpr char kInsertDonation[] =
    "INSERT INTO donations (donor_id, din, donation_type, volume_ml, station_id, collected_at,"
    " collection_date, weight_kg, hemoglobin_g_l, systolic_mmhg, diastolic_mmhg, pulse_bpm,"
    " hematocrit, platelet_count_e9_l, adverse_reaction, anticoagulant, product_code,"
    " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kCountDonation[] =
    "UPDATE donors SET donation_count = donation_count + 1,"
    " last_donation_date = CASE WHEN last_donation_date IS NULL OR last_donation_date < ?"
    "   THEN ? ELSE last_donation_date END,"
    " had_adverse_reaction = had_adverse_reaction OR ?, version = version + 1, updated_at = ?"
    " WHERE donor_id = ?";
inline constexpr char kLockDonationByDin[] =
    "SELECT donor_id, voided FROM donations WHERE din = ? FOR UPDATE";
inline constexpr char kVoidDonation[] =
    "UPDATE donations SET voided = TRUE, voided_by = ?, void_reason = ?, voided_at = ?"
    " WHERE din = ?";
// A voided donation leaves the donor's counters as if it had not been recorded; parameters:
// the voided donation's collection day, the donor id, now, the donor id.
inline constexpr char kUncountDonation[] =
    "UPDATE donors SET donation_count = GREATEST(donation_count - 1, 0),"
    " last_donation_date = CASE WHEN last_donation_date = ? THEN"
    "   (SELECT MAX(n.collection_date) FROM donations n WHERE n.donor_id = ? AND NOT n.voided)"
    "   ELSE last_donation_date END,"
    " version = version + 1, updated_at = ? WHERE donor_id = ?";
inline constexpr char kUnconfirmedDonations[] =
    "SELECT n.donation_id, n.donor_id, n.din, n.donation_type, n.volume_ml, n.station_id,"
    " n.collected_at, n.collection_date, n.weight_kg, n.hemoglobin_g_l, n.systolic_mmhg,"
    " n.diastolic_mmhg, n.pulse_bpm, n.hematocrit, n.platelet_count_e9_l, n.adverse_reaction,"
    " n.reactive, n.anticoagulant, n.product_code, n.recorded_at, n.voided, n.voided_by,"
    " n.void_reason, n.voided_at, d.abo, d.rhd FROM donations n"
    " JOIN donors d ON d.donor_id = n.donor_id"
    " WHERE n.unit_confirmed = FALSE AND n.voided = FALSE AND n.recorded_at < ?"
    " ORDER BY n.recorded_at, n.donation_id LIMIT ?";
inline constexpr char kConfirmDonationUnit[] =
    "UPDATE donations SET unit_confirmed = TRUE WHERE din = ?";
inline constexpr char kMarkDonationReactive[] =
    "UPDATE donations SET reactive = TRUE WHERE din = ? AND donor_id = ?";
inline constexpr char kDonationOfDonorExists[] =
    "SELECT COUNT(*) FROM donations WHERE din = ? AND donor_id = ?";

// Appeal pool: every donor of one blood type, their recent donations and deferrals in force.
inline constexpr char kPoolDonors[] = " WHERE d.abo = ? AND d.rhd = ?";
inline constexpr char kPoolHistory[] =
    "SELECT n.donor_id, n.collection_date, n.donation_type, n.volume_ml FROM donations n"
    " JOIN donors d ON d.donor_id = n.donor_id WHERE d.abo = ? AND d.rhd = ?"
    " AND n.collection_date >= ? AND n.collection_date <= ? AND NOT n.voided";
inline constexpr char kPoolDeferrals[] =
    "SELECT f.deferral_id, f.donor_id, f.reason_code, f.ends_on FROM deferrals f"
    " JOIN donors d ON d.donor_id = f.donor_id WHERE d.abo = ? AND d.rhd = ? AND";

// Appeals. Counts by response: BindAppealCounts binds the five responses, in column order.
inline constexpr char kAppealSelect[] =
    "SELECT a.appeal_id, a.station_id, a.abo, a.rhd, a.donation_type, a.donations_needed,"
    " a.reason, a.created_by, a.created_at, a.closes_at,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id) AS total,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS pending,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS contacted,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS accepted,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS declined,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS donated"
    " FROM appeals a";
inline constexpr char kAppealById[] = " WHERE a.appeal_id = ?";
inline constexpr char kLockAppeal[] =
    "SELECT closes_at FROM appeals WHERE appeal_id = ? FOR UPDATE";
inline constexpr char kAppealContacts[] =
    "SELECT c.donor_id, d.name, c.response, c.responded_at, c.din, c.note FROM appeal_contacts c"
    " JOIN donors d ON d.donor_id = c.donor_id WHERE c.appeal_id = ? ORDER BY c.position";
inline constexpr char kInsertAppeal[] =
    "INSERT INTO appeals (station_id, abo, rhd, donation_type, donations_needed, reason,"
    " created_by, created_at, closes_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kInsertContact[] =
    "INSERT INTO appeal_contacts (appeal_id, donor_id, position, response, responded_at, din,"
    " note) VALUES (?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kUpdateContact[] =
    "UPDATE appeal_contacts SET response = ?, responded_at = ?, din = ?, note = ?"
    " WHERE appeal_id = ? AND donor_id = ?";
inline constexpr char kContactExists[] =
    "SELECT COUNT(*) FROM appeal_contacts WHERE appeal_id = ? AND donor_id = ?";
inline constexpr char kNextContactPosition[] =
    "SELECT COALESCE(MAX(position), 0) + 1 FROM appeal_contacts WHERE appeal_id = ?";
inline constexpr char kDonorExists[] = "SELECT COUNT(*) FROM donors WHERE donor_id = ?";
inline constexpr char kFilterAppealStation[] = " AND a.station_id = ?";
// AppealOpenAt's SQL form; parameter: the instant.
inline constexpr char kFilterAppealOpen[] = " AND a.closes_at > ?";
inline constexpr char kAppealAfter[] =
    " AND (a.created_at < ? OR (a.created_at = ? AND a.appeal_id < ?))";
inline constexpr char kAppealOrder[] = " ORDER BY a.created_at DESC, a.appeal_id DESC LIMIT ?";

// Reimbursement ledger.
inline constexpr char kSelectAccount[] =
    "SELECT self_claimed_ml, relatives_claimed_ml FROM reimbursement_accounts WHERE donor_id = ?";
inline constexpr char kLockAccount[] =
    "SELECT self_claimed_ml, relatives_claimed_ml FROM reimbursement_accounts WHERE donor_id = ?"
    " FOR UPDATE";
inline constexpr char kSelectCredits[] =
    "SELECT din, donation_date, volume_ml FROM reimbursement_ledger WHERE donor_id = ?"
    " AND kind = ? ORDER BY donation_date, entry_id";
inline constexpr char kInvoiceClaimed[] =
    "SELECT COUNT(*) FROM reimbursement_ledger WHERE invoice_no = ?";
inline constexpr char kInsertCredit[] =
    "INSERT INTO reimbursement_ledger (donor_id, kind, din, donation_date, volume_ml, created_at,"
    " created_by) VALUES (?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kInsertDebit[] =
    "INSERT INTO reimbursement_ledger (donor_id, kind, volume_ml, claimant_relation, invoice_no,"
    " invoice_volume_ml, blood_fee, reimbursed_amount, recipient_name, hospital_name,"
    " invoice_date, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
inline constexpr char kAddSelfClaimed[] =
    "UPDATE reimbursement_accounts SET self_claimed_ml = self_claimed_ml + ?, updated_at = ?"
    " WHERE donor_id = ?";
inline constexpr char kAddRelativesClaimed[] =
    "UPDATE reimbursement_accounts SET relatives_claimed_ml = relatives_claimed_ml + ?,"
    " updated_at = ? WHERE donor_id = ?";
inline constexpr char kLedgerSelect[] =
    "SELECT entry_id, donor_id, kind, din, volume_ml, claimant_relation, invoice_no,"
    " invoice_volume_ml, blood_fee, reimbursed_amount, recipient_name, hospital_name, created_at,"
    " created_by FROM reimbursement_ledger l";
inline constexpr char kLedgerById[] = " WHERE l.entry_id = ?";
inline constexpr char kLedgerOfDonor[] = " WHERE l.donor_id = ?";
inline constexpr char kLedgerAfter[] =
    " AND (l.created_at < ? OR (l.created_at = ? AND l.entry_id < ?))";
inline constexpr char kLedgerOrder[] = " ORDER BY l.created_at DESC, l.entry_id DESC LIMIT ?";

// kDonorColumns with the output-only flags, built once from the fragments above.
const std::string& DonorSelect();

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_SQL_H_
