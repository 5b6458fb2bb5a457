# Locates the SentencePiece C++ library (Debian/Ubuntu: libsentencepiece-dev, installed by
# `make system-deps`) and defines the imported target sentencepiece::sentencepiece.
#
# Only the runtime library (encode/decode) is linked, never libsentencepiece_train.
# Override with -DSENTENCEPIECE_INCLUDE_DIR=... -DSENTENCEPIECE_LIBRARY=... (e.g. a static
# library cross-built for Android).
#
# Sets: SENTENCEPIECE_INCLUDE_DIR, SENTENCEPIECE_LIBRARY, SENTENCEPIECE_VERSION (from
# pkg-config when available).

if(NOT SENTENCEPIECE_INCLUDE_DIR OR NOT SENTENCEPIECE_LIBRARY)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(_litegen_spm QUIET sentencepiece)
  endif()
  find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h
    HINTS ${_litegen_spm_INCLUDE_DIRS})
  find_library(SENTENCEPIECE_LIBRARY NAMES sentencepiece
    HINTS ${_litegen_spm_LIBRARY_DIRS})
  if(_litegen_spm_VERSION)
    set(SENTENCEPIECE_VERSION "${_litegen_spm_VERSION}")
  endif()
endif()

if(NOT SENTENCEPIECE_INCLUDE_DIR OR NOT SENTENCEPIECE_LIBRARY)
  message(FATAL_ERROR
    "SentencePiece (C++ library and headers) not found. Install it with "
    "`make system-deps` (apt-get install libsentencepiece-dev) or pass "
    "-DSENTENCEPIECE_INCLUDE_DIR=... -DSENTENCEPIECE_LIBRARY=...")
endif()
message(STATUS "SentencePiece: ${SENTENCEPIECE_LIBRARY} (${SENTENCEPIECE_VERSION})")

if(NOT TARGET sentencepiece::sentencepiece)
  add_library(sentencepiece::sentencepiece UNKNOWN IMPORTED)
  set_target_properties(sentencepiece::sentencepiece PROPERTIES
    IMPORTED_LOCATION "${SENTENCEPIECE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SENTENCEPIECE_INCLUDE_DIR}")
endif()
