# AVX-512 kernels under emulation (tests/avx512_emul/): the unmodified
# src/kernels/*_avx512.c sources are compiled again against plain-C versions of
# their intrinsics and checked bitwise on any x86-64 with AVX2, so CI exercises
# the AVX-512 logic even on machines without it. Included by tests/CMakeLists.txt
# after CMOCKA_* and NABLA_TEST_ENV are set; registers avx512_emulated.<test>.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(NABLA_EMU_DIR ${PROJECT_SOURCE_DIR}/tests/avx512_emul)
  set(NABLA_EMU_KERNELS ${NABLA_EMU_DIR}/emul_elementwise.c ${NABLA_EMU_DIR}/emul_sgemm.c)
  # Only AVX2 (their 128/256-bit steps are real); no contraction, so the
  # emulated lanes round exactly as the documented instructions do.
  set_source_files_properties(${NABLA_EMU_KERNELS} PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-ffp-contract=off")
  add_executable(test_avx512_emulated ${NABLA_EMU_DIR}/test_avx512_emulated.c
    ${NABLA_EMU_KERNELS})
  target_include_directories(test_avx512_emulated PRIVATE ${CMOCKA_INCLUDE_DIR}
    ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests ${NABLA_EMU_DIR})
  target_link_libraries(test_avx512_emulated PRIVATE nabla ${CMOCKA_LIBRARY})
  file(STRINGS ${NABLA_EMU_DIR}/test_avx512_emulated.c lines
    REGEX "cmocka_unit_test\\(test_[A-Za-z0-9_]+")
  foreach(line ${lines})
    string(REGEX REPLACE ".*cmocka_unit_test\\(test_([A-Za-z0-9_]+).*" "\\1" name "${line}")
    add_test(NAME avx512_emulated.${name} COMMAND test_avx512_emulated test_${name})
    set_tests_properties(avx512_emulated.${name} PROPERTIES
      ENVIRONMENT "${NABLA_TEST_ENV}" TIMEOUT 600)
  endforeach()
endif()
