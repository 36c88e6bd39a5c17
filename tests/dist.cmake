# Data-parallel tests (src/dist, issue 7). Included by tests/CMakeLists.txt right
# after the glob of test sources: tests/test_dist*.c are taken out of the plain
# one-process registration and run under mpirun instead — the whole cmocka
# group on 1, 2 and 3 ranks (3 splits the global batch unevenly), and each
# fault path by name, which must stop the job with its message.
list(FILTER NABLA_TEST_SOURCES EXCLUDE REGEX "/test_dist[^/]*\\.c$")

if(NOT MPI_C_FOUND)
  # Built without MPI: the API must still exist and say why it cannot work.
  add_executable(test_dist ${CMAKE_CURRENT_SOURCE_DIR}/test_dist.c)
  target_include_directories(test_dist PRIVATE ${CMOCKA_INCLUDE_DIR}
    ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(test_dist PRIVATE nabla ${CMOCKA_LIBRARY})
  add_test(NAME dist.without_mpi COMMAND test_dist without_mpi)
  set_tests_properties(dist.without_mpi PROPERTIES ENVIRONMENT "${NABLA_TEST_ENV}" TIMEOUT 60)
elseif(MPIEXEC_EXECUTABLE)
  # One thread per rank (three ranks share two cores on CI); vader's
  # single-copy (CMA) needs ptrace rights that containers often lack.
  set(NABLA_DIST_ENV ${NABLA_TEST_ENV} "NABLA_NUM_THREADS=1" "OMP_NUM_THREADS=1"
      "OMPI_MCA_btl_vader_single_copy_mechanism=none")
  if(NABLA_SANITIZE)
    # Open MPI keeps allocations alive past MPI_Finalize by design; only
    # those are suppressed (tests/dist.supp), nabla's own leaks still fail.
    # Its libraries have no frame pointers, so leak stacks need the slow
    # unwinder, and its plugins must stay loaded to be named in them.
    list(APPEND NABLA_DIST_ENV
      "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/dist.supp:print_suppressions=0:fast_unwind_on_malloc=0"
      "OMPI_MCA_mca_base_component_disable_dlclose=1")
  endif()
  set(NABLA_MPIRUN ${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root --bind-to none)

  file(GLOB NABLA_DIST_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test_dist*.c)
  foreach(src ${NABLA_DIST_TESTS})
    get_filename_component(exe ${src} NAME_WE)
    add_executable(${exe} ${src})
    target_include_directories(${exe} PRIVATE ${CMOCKA_INCLUDE_DIR}
      ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(${exe} PRIVATE nabla ${CMOCKA_LIBRARY})
    string(REGEX REPLACE "^test_" "" group ${exe})
    foreach(np 1 2 3)
      add_test(NAME ${group}.np${np} COMMAND ${NABLA_MPIRUN} -n ${np} $<TARGET_FILE:${exe}>)
      set_tests_properties(${group}.np${np} PROPERTIES ENVIRONMENT "${NABLA_DIST_ENV}" TIMEOUT 120)
    endforeach()
    # Fault paths: `// expect: <np> <regex>` lines next to each fault function
    # would be neater; three fixed entries are enough.
    if(exe STREQUAL "test_dist")
      add_test(NAME dist.fault_spec_mismatch
        COMMAND ${NABLA_MPIRUN} -n 3 $<TARGET_FILE:${exe}> fault_spec_mismatch)
      set_tests_properties(dist.fault_spec_mismatch PROPERTIES ENVIRONMENT "${NABLA_DIST_ENV}"
        TIMEOUT 60 PASS_REGULAR_EXPRESSION "rank [0-9]: model spec differs: rank 2 has [0-9a-f]+ but rank 0 has")
      add_test(NAME dist.fault_check_timeout
        COMMAND ${NABLA_MPIRUN} -n 3 $<TARGET_FILE:${exe}> fault_check_timeout)
      set_tests_properties(dist.fault_check_timeout PROPERTIES ENVIRONMENT "${NABLA_DIST_ENV}"
        TIMEOUT 60 PASS_REGULAR_EXPRESSION "rank 0: data check timed out after 1 s: rank 2 did not arrive")
      add_test(NAME dist.fault_rank_dies
        COMMAND ${NABLA_MPIRUN} -n 2 $<TARGET_FILE:${exe}> fault_rank_dies)
      set_tests_properties(dist.fault_rank_dies PROPERTIES ENVIRONMENT "${NABLA_DIST_ENV}"
        TIMEOUT 60 PASS_REGULAR_EXPRESSION "process rank 1 with PID [0-9]+ on node [^ ]+ exited on signal 9")
    endif()
  endforeach()
endif()

# the data-parallel `nabla train` tests (tools/nabla/dist_cli.c)
include(${CMAKE_CURRENT_SOURCE_DIR}/dist_cli.cmake)
