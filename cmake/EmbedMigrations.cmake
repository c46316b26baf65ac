# bloodgrid_embed_migrations(<target> <dir> <namespace> <function>)
# Compiles every NNN_name.sql of <dir> into <target> as
#   const std::vector<bloodgrid::db::Migration>& <namespace>::<function>();
# so a service binary always carries exactly the schema its code expects.
function(bloodgrid_embed_migrations target dir namespace function)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT sql_files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAMESPACE=${namespace} -DFUNCTION=${function}
            "-DFILES=${sql_files}" -P ${PROJECT_SOURCE_DIR}/cmake/GenerateMigrations.cmake
    DEPENDS ${sql_files} ${PROJECT_SOURCE_DIR}/cmake/GenerateMigrations.cmake
    COMMENT "Embedding migrations of ${dir}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
