#!/usr/bin/env bash
# The CMake options of the g++ build in build/, sourced by tests/run.sh and
# examples/demo.sh: the same options keep CMake's cache, so the test command
# goes on from the demo's build (and the demo from the tests'), instead of
# deleting the cache and building again.
hsmprov_gcc_build_options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHSMPROV_SANITIZE=OFF -DCMAKE_CXX_COMPILER=g++
                           -DCMAKE_C_COMPILER=gcc)
