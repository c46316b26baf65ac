#include "common/sql_toolkit.h"

#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <memory>
#include <sstream>

namespace bloodgrid::db {

Params& Params::Str(absl::string_view value) {
  statement_.setString(++index_, std::string(value));
  return *this;
}

Params& Params::StrOrNull(absl::string_view value) {
  if (value.empty()) return Null();
  return Str(value);
}

Params& Params::OptStr(const std::optional<std::string>& value) {
  return value.has_value() ? Str(*value) : Null();
}

Params& Params::Int(int64_t value) {
  statement_.setInt64(++index_, value);
  return *this;
}

Params& Params::OptInt(std::optional<int64_t> value) {
  if (!value.has_value()) {
    statement_.setNull(++index_, sql::DataType::BIGINT);
    return *this;
  }
  return Int(*value);
}

Params& Params::Bool(bool value) {
  statement_.setBoolean(++index_, value);
  return *this;
}

Params& Params::Double(double value) {
  statement_.setDouble(++index_, value);
  return *this;
}

Params& Params::OptDouble(std::optional<double> value) {
  if (!value.has_value()) {
    statement_.setNull(++index_, sql::DataType::DOUBLE);
    return *this;
  }
  return Double(*value);
}

Params& Params::Time(absl::Time value) { return Int(absl::ToUnixMicros(value)); }

Params& Params::OptTime(std::optional<absl::Time> value) {
  if (!value.has_value()) return OptInt(std::nullopt);
  return Time(*value);
}

Params& Params::Blob(std::istream* stream) {
  statement_.setBlob(++index_, stream);
  return *this;
}

Params& Params::Null() {
  statement_.setNull(++index_, sql::DataType::VARCHAR);
  return *this;
}

std::string Str(const sql::ResultSet& rs, uint32_t column) {
  return rs.isNull(column) ? std::string() : rs.getString(column).asStdString();
}

std::optional<std::string> OptStr(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::nullopt;
  return rs.getString(column).asStdString();
}

int64_t I64(const sql::ResultSet& rs, uint32_t column) {
  return rs.isNull(column) ? 0 : rs.getInt64(column);
}

std::optional<int64_t> OptI64(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::nullopt;
  return rs.getInt64(column);
}

bool Bool(const sql::ResultSet& rs, uint32_t column) {
  return !rs.isNull(column) && rs.getBoolean(column);
}

double Double(const sql::ResultSet& rs, uint32_t column) {
  return rs.isNull(column) ? 0.0 : static_cast<double>(rs.getDouble(column));
}

std::optional<double> OptDouble(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::nullopt;
  return static_cast<double>(rs.getDouble(column));
}

absl::Time Time(const sql::ResultSet& rs, uint32_t column) {
  return absl::FromUnixMicros(I64(rs, column));
}

std::optional<absl::Time> OptTime(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::nullopt;
  return absl::FromUnixMicros(rs.getInt64(column));
}

std::string BlobBytes(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::string();
  std::unique_ptr<std::istream> blob(rs.getBlob(column));
  std::stringstream bytes;
  bytes << blob->rdbuf();
  return bytes.str();
}

int64_t ForEachRow(sql::PreparedStatement& statement,
                   absl::FunctionRef<void(const sql::ResultSet&)> row) {
  std::unique_ptr<sql::ResultSet> rs(statement.executeQuery());
  int64_t rows = 0;
  while (rs->next()) {
    row(*rs);
    ++rows;
  }
  return rows;
}

}  // namespace bloodgrid::db
