# `nabla train` under mpirun (tools/nabla/dist_cli.c, issue 7): included at the
# end of dist.cmake. With MPI, tests/dist_train.sh runs each group of checks
# (one process vs 1/2/3 ranks, resuming across rank counts, start-up faults)
# with the same launcher and environment as the library's tests; without MPI,
# a launch by mpirun must be refused rather than train N separate copies.
if(TARGET nabla_cli)
  if(MPI_C_FOUND AND MPIEXEC_EXECUTABLE)
    add_executable(dist_cli_compare ${CMAKE_CURRENT_SOURCE_DIR}/dist_cli_compare.c)
    target_link_libraries(dist_cli_compare PRIVATE nabla)
    foreach(g equal resume faults syncbn)
      add_test(NAME cli_dist.${g}
        COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/dist_train.sh ${g} $<TARGET_FILE:nabla_cli>
                $<TARGET_FILE:dist_cli_compare> ${NABLA_MPIRUN})
      set_tests_properties(cli_dist.${g} PROPERTIES ENVIRONMENT "${NABLA_DIST_ENV}" TIMEOUT 120)
    endforeach()
  elseif(NOT MPI_C_FOUND)
    add_test(NAME cli_dist.without_mpi
      COMMAND ${CMAKE_COMMAND} -E env OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0
              $<TARGET_FILE:nabla_cli> train --epochs 1)
    set_tests_properties(cli_dist.without_mpi PROPERTIES ENVIRONMENT "${NABLA_TEST_ENV}" TIMEOUT 60
      PASS_REGULAR_EXPRESSION "nabla train: started by an MPI launcher with several ranks, but this nabla was built without MPI")
  endif()
endif()
