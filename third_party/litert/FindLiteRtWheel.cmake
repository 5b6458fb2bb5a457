# Locates libLiteRt.so inside the installed ai-edge-litert wheel and defines the imported
# target litert::runtime.
#
# The wheel ships the LiteRT C API as ai_edge_litert/libLiteRt.so (no headers; ours are in
# third_party/litert/litert_c_abi.h). We ask the Python interpreter of the build where the
# package lives without importing it (importing would load the whole runtime).
#
# Sets: LITERT_LIBRARY (path of libLiteRt.so), LITERT_LIBRARY_DIR, LITERT_WHEEL_VERSION.
# Override with -DLITERT_LIBRARY=/path/to/libLiteRt.so (e.g. the Android build).

if(NOT LITERT_LIBRARY)
  if(NOT Python_EXECUTABLE)
    find_package(Python 3.10 REQUIRED COMPONENTS Interpreter)
  endif()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.util, importlib.metadata, os, sys\nspec = importlib.util.find_spec('ai_edge_litert')\nif spec is None or not spec.submodule_search_locations: sys.exit('ai-edge-litert is not installed')\nprint(os.path.join(list(spec.submodule_search_locations)[0], 'libLiteRt.so'))\nprint(importlib.metadata.version('ai-edge-litert'))"
    OUTPUT_VARIABLE _litert_probe
    ERROR_VARIABLE _litert_probe_error
    RESULT_VARIABLE _litert_probe_result
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _litert_probe_result EQUAL 0)
    message(FATAL_ERROR "Cannot locate the ai-edge-litert wheel with ${Python_EXECUTABLE}: "
                        "${_litert_probe_error}. Install ai-edge-litert==${LITEGEN_LITERT_VERSION}.")
  endif()
  string(REPLACE "\n" ";" _litert_probe "${_litert_probe}")
  list(GET _litert_probe 0 LITERT_LIBRARY)
  list(GET _litert_probe 1 LITERT_WHEEL_VERSION)
  if(NOT LITERT_WHEEL_VERSION STREQUAL LITEGEN_LITERT_VERSION)
    message(FATAL_ERROR "ai-edge-litert ${LITERT_WHEEL_VERSION} is installed, but litegen's ABI "
                        "header is for ${LITEGEN_LITERT_VERSION} exactly.")
  endif()
endif()

if(NOT EXISTS "${LITERT_LIBRARY}")
  message(FATAL_ERROR "libLiteRt.so not found at ${LITERT_LIBRARY}")
endif()
get_filename_component(LITERT_LIBRARY_DIR "${LITERT_LIBRARY}" DIRECTORY)
message(STATUS "LiteRT runtime: ${LITERT_LIBRARY}")

add_library(litert::runtime SHARED IMPORTED)
set_target_properties(litert::runtime PROPERTIES
  IMPORTED_LOCATION "${LITERT_LIBRARY}"
  IMPORTED_SONAME "libLiteRt.so"
  INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}/..")
