# Turns the files of the web UI into C arrays at build time, so the binary
# serves them from memory and works from any directory.
set(EMBER_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_run.cmake)

function(ember_embed_web web_dir out_file)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS LIST_DIRECTORIES false
       RELATIVE ${web_dir} ${web_dir}/*)
  list(FILTER files EXCLUDE REGEX "^(node_modules|test|tests)/")
  list(FILTER files EXCLUDE REGEX "(^|/)(package(-lock)?\\.json|\\.[^/]*)$")
  list(FILTER files EXCLUDE REGEX "\\.test\\.js$")
  list(SORT files)
  set(deps "")
  foreach(f ${files})
    list(APPEND deps ${web_dir}/${f})
  endforeach()
  string(REPLACE ";" "|" files_arg "${files}")
  add_custom_command(
    OUTPUT ${out_file}
    COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${web_dir} -DOUT=${out_file}
            "-DFILES=${files_arg}" -P ${EMBER_EMBED_SCRIPT}
    DEPENDS ${deps} ${EMBER_EMBED_SCRIPT}
    COMMENT "Embedding web UI assets"
    VERBATIM)
endfunction()
