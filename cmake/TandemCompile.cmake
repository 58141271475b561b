# Compiler settings shared by every Tandem target.
#
# tdm_target_defaults(<target>) applies the warning set (errors when TANDEM_WERROR)
# to Tandem's own code. Generated code (protoc-c, nanopb) does not get -Werror:
# we do not control its text.

# Not in the set: -Wnull-dereference (only active under optimisation, where GCC 12
# reports paths it cannot rule out rather than ones it found, so Debug and Release
# disagree) and -Wformat-truncation (snprintf into a fixed buffer truncates by
# design; where truncation would matter the return value is checked).
set(TDM_WARNINGS
  -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
  -Wformat=2 -Wundef -Wcast-align -Wwrite-strings $<$<C_COMPILER_ID:GNU>:-Wno-format-truncation>
  -Wimplicit-fallthrough -Wno-unused-parameter)

add_compile_definitions(_GNU_SOURCE)

# libFuzzer binaries (tests/fuzz, tools/fuzz.sh). Every target is compiled with
# coverage instrumentation, not only the fuzz executables: the code under test lives
# in the libraries, and without their edges libFuzzer would see the harness alone.
option(TANDEM_FUZZ "Build libFuzzer binaries (needs clang)" OFF)
if(TANDEM_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(TANDEM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(tdm_target_defaults target)
  target_compile_options(${target} PRIVATE ${TDM_WARNINGS})
  if(TANDEM_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# tdm_add_test(NAME <name> SOURCES <files...> LIBS <targets...> [LABELS <labels...>]
#              [TIMEOUT <seconds>])
# A cmocka (or other) test executable registered with ctest. Integration tests
# read TANDEM_TEST_DATABASE_URL, which tests/run.sh exports.
function(tdm_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  tdm_target_defaults(${T_NAME})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT}
    LABELS "${T_LABELS}"
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT")
endfunction()

# tdm_embed_migrations() and friends, when present.
include(TandemMigrations OPTIONAL)
