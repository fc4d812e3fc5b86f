# Interface targets carry warnings and sanitizers so nobody edits CMAKE_CXX_FLAGS.
add_library(cmkwatch_warnings INTERFACE)
target_compile_options(cmkwatch_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough
  # GCC 12 at -O3 reports impossible memcpy overlaps inside std::string's
  # operator+ (GCC bug 105329, a false positive): noise in every release build.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)

add_library(cmkwatch_sanitizers INTERFACE)
if(CMKWATCH_SANITIZE OR CMKWATCH_FUZZ)
  target_compile_options(cmkwatch_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(cmkwatch_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
if(CMKWATCH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CMKWATCH_FUZZ needs clang (libFuzzer); use the 'fuzz' preset")
  endif()
  # Instrument the libraries for coverage; only fuzz targets link the fuzzer main.
  target_compile_options(cmkwatch_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

add_library(cmkwatch_options INTERFACE)
target_link_libraries(cmkwatch_options INTERFACE cmkwatch_warnings cmkwatch_sanitizers)
