# ttscache_man_page(TARGET SECTION): builds docs/man/TARGET.SECTION.in into
# TARGET.SECTION (for tests) and TARGET.SECTION.gz (installed, component
# runtime) with scripts/make-man.py, which runs the built TARGET for its
# --help text. Needs python3.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
function(ttscache_man_page target section)
  set(source ${PROJECT_SOURCE_DIR}/docs/man/${target}.${section}.in)
  set(page ${PROJECT_BINARY_DIR}/man/${target}.${section})
  add_custom_command(OUTPUT ${page} ${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/make-man.py
            $<TARGET_FILE:${target}> ${source} ${page}
    DEPENDS ${target} ${source} ${PROJECT_SOURCE_DIR}/scripts/make-man.py
    COMMENT "man page ${target}(${section})" VERBATIM)
  add_custom_target(${target}_man ALL DEPENDS ${page} ${page}.gz)
  install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT runtime)
endfunction()
