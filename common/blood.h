// Blood types, the component catalogue and ABO/RhD compatibility, as data plus pure
// functions. This is the one place BloodGrid decides which donor blood may go to which
// patient; services ask these functions and never re-encode the tables.
//
// Sources (DOMAIN.md section 3): Australian Red Cross Lifeblood compatibility tables [C];
// 临床输血技术规范 (Clinical Transfusion Technical Specification, 2000) [S]. Chinese
// practice is ABO-identical by default; a compatible substitute is used only when identical
// stock is short.
//
// The domain enums are the contract's own (bloodgrid/v1/common.proto), so there is no second
// enum set to keep in sync. Every function here is pure and thread-safe.
#ifndef BLOODGRID_COMMON_BLOOD_H_
#define BLOODGRID_COMMON_BLOOD_H_

#include <array>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "bloodgrid/v1/common.pb.h"

namespace bloodgrid {

using AboGroup = v1::AboGroup;
using RhD = v1::RhD;
using Component = v1::Component;

// An ABO group plus RhD status. Either both are set (a known type) or both are unspecified
// (unknown: a patient not yet typed); anything else is invalid. Plain value, hashable with
// absl::Hash.
struct BloodType {
  AboGroup abo = v1::ABO_GROUP_UNSPECIFIED;
  RhD rhd = v1::RH_D_UNSPECIFIED;

  // The unknown blood type (both parts unspecified).
  static constexpr BloodType Unknown() { return BloodType{}; }

  // True if both the ABO group and RhD are set to real values.
  bool IsKnown() const;
  // True if both parts are unspecified.
  bool IsUnknown() const { return abo == v1::ABO_GROUP_UNSPECIFIED && rhd == v1::RH_D_UNSPECIFIED; }

  // "O-", "O+", "A-", "A+", "B-", "B+", "AB-", "AB+"; "unknown" for the unknown type;
  // "invalid(abo=N, rhd=M)" for a half-set or out-of-range value (for logs only).
  std::string ToString() const;

  // The proto message; the unknown type maps to both fields unspecified.
  v1::BloodType ToProto() const;
  // From the proto message. Returns INVALID_ARGUMENT ("blood_type: ...") if only one of
  // abo/rhd is set or either holds a value this build does not know; both unspecified
  // gives the unknown type (callers that need a known type check IsKnown()).
  static absl::StatusOr<BloodType> FromProto(const v1::BloodType& proto);

  friend bool operator==(const BloodType&, const BloodType&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const BloodType& type) {
    return H::combine(std::move(h), type.abo, type.rhd);
  }
};

std::ostream& operator<<(std::ostream& os, const BloodType& type);

// Parses "O-", "A+", "AB-", ... (case-insensitive, surrounding whitespace ignored) or
// "unknown". Returns INVALID_ARGUMENT ("blood_type: ...") for anything else.
absl::StatusOr<BloodType> ParseBloodType(absl::string_view text);

// The eight known blood types: O-, O+, A-, A+, B-, B+, AB-, AB+ (in that order).
const std::array<BloodType, 8>& AllBloodTypes();

// ---------------------------------------------------------------------------------------
// Component catalogue (DOMAIN.md section 2).

// The measure a hospital orders a component in. Chinese convention: 1 U of red cells or
// whole blood is derived from 200 mL of whole blood; plasma in mL; one apheresis platelet
// bag is one therapeutic dose; cryoprecipitate in U.
enum class OrderingMeasure { kUnits, kMilliliters, kDoses };

// "U", "mL" or "dose".
absl::string_view OrderingMeasureSymbol(OrderingMeasure measure);

struct ComponentInfo {
  Component component;
  // Display name, e.g. "red cells", "plasma".
  absl::string_view name;
  OrderingMeasure measure;
  // Whether the donor's RhD must be respected: true for whole blood, red cells and
  // platelets; false for plasma and cryoprecipitate (no red cells to carry the D antigen).
  bool rhd_matters;
};

// Every component BloodGrid stocks (whole blood, red cells, plasma, platelets, cryo), in
// enum order.
absl::Span<const ComponentInfo> ComponentCatalogue();

// The catalogue entry of `component`. Returns INVALID_ARGUMENT ("component: ...") for
// COMPONENT_UNSPECIFIED or a value this build does not know.
absl::StatusOr<ComponentInfo> LookupComponent(Component component);

// ---------------------------------------------------------------------------------------
// Compatibility (DOMAIN.md section 3).
//
// ABO preference, recipient -> donor groups, best first ("A|O" = equally preferred):
//   recipient | red cells      | plasma, cryo (RhD ignored) | platelets
//   O         | O              | O, A, B, AB                | O, A, B
//   A         | A, O           | A, AB                      | A, B|O (low-titre), AB
//   B         | B, O           | B, AB                      | B, A|O (low-titre), AB
//   AB        | AB, A, B, O    | AB                         | AB, A|B, O
//   Whole blood carries both red cells and plasma, so it is ABO-identical only
//   (AABB Standards; group O low-titre whole blood is not modelled).
// Never: A/B/AB red cells to O; B or AB red cells to A; A or AB red cells to B.
//
// RhD, for whole blood, red cells and platelets:
//   - an RhD-positive recipient may receive RhD-positive or RhD-negative blood; within each
//     ABO step the RhD-positive donors come first (to keep RhD-negative stock for the
//     patients who need it), then the RhD-negative ones;
//   - an RhD-negative recipient receives RhD-negative blood; RhD-positive donors appear only
//     when the caller asks for the emergency exception, after every RhD-negative candidate,
//     flagged `rhd_mismatch`. E.g. A- red cells: A-, O-, then (exception) A+, O+.
// The exception is a clinical decision the caller makes and records (who, why): only in a
// life-threatening emergency, never for a patient with anti-D, and for females <= 50 only
// when nothing else exists. These functions do not know the patient; the caller decides
// whether to ask.
// For plasma and cryo, RhD is ignored: both RhD types of a group share its step, the
// recipient's own RhD listed first.

// One acceptable donor blood type for a recipient.
struct DonorCandidate {
  BloodType donor;
  // Preference step, 1 = best. Candidates with the same tier are equally preferred;
  // a higher tier is used only when the lower ones are short.
  int tier = 0;
  // The donor's ABO group is the recipient's.
  bool abo_identical = false;
  // The donor is RhD-positive and the recipient RhD-negative (or, for an unknown recipient,
  // possibly RhD-negative): allowed only as a recorded emergency exception.
  bool rhd_mismatch = false;

  bool requires_emergency_exception() const { return rhd_mismatch; }

  friend bool operator==(const DonorCandidate&, const DonorCandidate&) = default;
};

std::ostream& operator<<(std::ostream& os, const DonorCandidate& candidate);

// The donor blood types acceptable for `recipient` and `component`, best first, tiers
// numbered 1, 2, ... in order. RhD-mismatched candidates are included only when
// `include_rhd_exceptions` is true (they never are for plasma and cryo, where RhD is
// ignored). Returns an empty list if `recipient` is not a known type (use
// EmergencyUnknownTypeCandidates for an untyped patient) or `component` is unspecified.
std::vector<DonorCandidate> CompatibleDonors(Component component, BloodType recipient,
                                             bool include_rhd_exceptions);

// True if `donor` blood of `component` may go to `recipient`, i.e. `donor` is among
// CompatibleDonors(component, recipient, allow_rhd_exception). False whenever either type
// is not known or the component is unspecified.
bool IsCompatible(Component component, BloodType recipient, BloodType donor,
                  bool allow_rhd_exception);

// Emergency release for a patient whose blood type is not known yet (DOMAIN.md section 3),
// best first, tiers numbered 1, 2, ...; `abo_identical` is always false.
//   red cells:    O-; then O+ (flagged rhd_mismatch) only if `allow_rhd_positive`, which the
//                 caller sets for a male or a female over 50 when O- is short.
//   plasma, cryo: AB- and AB+ together (AB plasma has neither anti-A nor anti-B).
//   platelets:    A-, then O- and B-; then, only if `allow_rhd_positive`, A+, then O+ and
//                 B+ (flagged). Not in DOMAIN.md: chosen as the groups the section 3 table
//                 accepts for every recipient group (AB is not listed for O recipients),
//                 group A first because it is the first or second choice for every
//                 recipient and carries only anti-B; O and B donors should be low-titre.
//   whole blood:  none (its plasma would need low-titre group O whole blood, not modelled).
// Returns an empty list for an unspecified component.
std::vector<DonorCandidate> EmergencyUnknownTypeCandidates(Component component,
                                                           bool allow_rhd_positive);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_BLOOD_H_
