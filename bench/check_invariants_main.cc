// bloodgrid_check_invariants: audits a region's databases (bench/invariants.h) and prints the
// report. Exit status: 0 every rule holds, 1 a rule is violated, 2 the check could not run.
//
//   BLOODGRID_DB_PASSWORD=... bloodgrid_check_invariants --db_port=3306 --db_user=admin
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/time.h"
#include "bench/invariants.h"

ABSL_FLAG(std::string, db_host, "127.0.0.1", "MySQL/MariaDB host");
ABSL_FLAG(int, db_port, 3306, "MySQL/MariaDB port");
ABSL_FLAG(std::string, db_user, "", "an account that can read every schema checked");
ABSL_FLAG(std::string, db_password_file, "",
          "file holding the password (else env BLOODGRID_DB_PASSWORD)");
ABSL_FLAG(std::string, inventory_schema, "inventory", "the inventory service's schema");
ABSL_FLAG(std::string, request_schema, "request", "the request service's schema");
ABSL_FLAG(std::string, donor_schema, "donor", "the donor service's schema (empty: skip it)");
ABSL_FLAG(int, orphan_grace_s, 120,
          "seconds past its hold before a still-held reservation counts as orphaned");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "bloodgrid_check_invariants: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  bloodgrid::bench::InvariantTarget target;
  target.host = absl::GetFlag(FLAGS_db_host);
  target.port = absl::GetFlag(FLAGS_db_port);
  target.user = absl::GetFlag(FLAGS_db_user);
  if (target.user.empty()) return Fail("--db_user is required");
  const std::string password_file = absl::GetFlag(FLAGS_db_password_file);
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    if (!in) return Fail("cannot read --db_password_file " + password_file);
    std::stringstream text;
    text << in.rdbuf();
    target.password = text.str();
    while (!target.password.empty() &&
           (target.password.back() == '\n' || target.password.back() == '\r')) {
      target.password.pop_back();
    }
  } else if (const char* env = std::getenv("BLOODGRID_DB_PASSWORD"); env != nullptr) {
    target.password = env;
  }
  target.inventory_schema = absl::GetFlag(FLAGS_inventory_schema);
  target.request_schema = absl::GetFlag(FLAGS_request_schema);
  target.donor_schema = absl::GetFlag(FLAGS_donor_schema);
  const int grace = absl::GetFlag(FLAGS_orphan_grace_s);
  if (grace < 0) return Fail("--orphan_grace_s must not be negative");
  target.orphan_grace = absl::Seconds(grace);

  absl::StatusOr<bloodgrid::bench::InvariantReport> report =
      bloodgrid::bench::CheckInvariants(target);
  if (!report.ok()) return Fail(report.status().ToString());
  std::fputs(report->Summary().c_str(), stdout);
  return report->ok() ? 0 : 1;
}
