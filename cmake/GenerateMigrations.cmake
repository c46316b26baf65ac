# Script mode helper of EmbedMigrations.cmake: writes OUT from FILES.
set(body "")
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME_WE)
  string(REGEX MATCH "^([0-9]+)_(.+)$" matched ${name})
  if(NOT matched)
    message(FATAL_ERROR "migration ${f} is not named NNN_name.sql")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  set(mname ${CMAKE_MATCH_2})
  file(READ ${f} sql)
  string(FIND "${sql}" ")bgsql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter")
  endif()
  string(APPEND body "      {${version}, \"${mname}\", R\"bgsql(${sql})bgsql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from the service's migrations/ directory. Do not edit.
#include <vector>

#include \"common/migrations.h\"

namespace ${NAMESPACE} {

const std::vector<::bloodgrid::db::Migration>& ${FUNCTION}() {
  static const auto* const migrations = new std::vector<::bloodgrid::db::Migration>{
${body}  };
  return *migrations;
}

}  // namespace ${NAMESPACE}
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
