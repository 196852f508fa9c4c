# Read by ctest (TEST_INCLUDE_FILES, after the GoogleTest lists it follows):
# the COST of the discovered tests that take over half a minute, so that
# `ctest -j` starts them first and the short ones fill in around them. A
# fresh tree (CI's) has no timings yet and starts tests in order: the crash
# loop, test ~412 of ~590, began a third of the way through and ran on as
# the tail of the ASan tree. Seconds from the last CI log (release tree);
# ctest replaces them by measured times once a tree has run
# (Testing/Temporary/CTestCostData.txt). The add_test ones are set in
# tests/CMakeLists.txt.
set_tests_properties(DaemonCrash.KillAndRestartLosesNoAcknowledgedEntry PROPERTIES COST 90)
