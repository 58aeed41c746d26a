# cmake -DCOMMAND="prog;arg;…" -DEXPECT="regex1;regex2;…" -P run_and_check.cmake
# Runs COMMAND; fails unless it exits 0 and its standard output matches every regular expression in EXPECT.
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exit status ${rc}\n${err}")
endif()
foreach(re IN LISTS EXPECT)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "output lacks /${re}/\n${err}")
  endif()
endforeach()
