#!/usr/bin/env bash
# Data races in the shard's tokenizing pool (core/tokenize/tokpool.c: pool threads, records decoded on
# them, in-order hand-over to the writer), in a whole shard build around it, and in the shard
# cache (core/cache/: worker threads, single flight, eviction under readers, the budget, the
# status snapshot): the unit tests test_tokpool (its pool part, smaller: 1, 2 and 3 threads
# against whole-document encoding), test_shard_build (its random corpora only, workers=2),
# test_build_feed (the feeder thread between the readers and the pool) and
# test_cache (all of it: 16 threads on one shard, 4 threads hammering get/release against two
# workers and eviction) and test_cache_early (reads answered from a build's progress callback
# while it runs; prefetch evicting under readers) built with ThreadSanitizer (gcc's, from libtsan2, which build-essential
# brings) in their own build dir, and run with every report fatal. (A lock taken out of
# tokfs_cache_usage, for one, is reported by test_cache's hammer.) The longer form:
# TOKFS_TSAN_CASES=120 (test_shard_build's default case count), TOKFS_TEST_OPS=1000
# (test_cache's operations per thread).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
build=$TOKFS_BUILD_DIR/tsan
tk_log "building test_tokpool, test_shard_build, test_build_feed, test_cache and test_cache_early with -fsanitize=thread in $build"
cmake -S "$TOKFS_SOURCE_DIR" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_tokpool test_shard_build test_build_feed test_cache test_cache_early >/dev/null
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
tk_log "test_tokpool (pool only)"
TOKFS_TEST_POOL_ONLY=1 "$build/test_tokpool" || tk_fail "test_tokpool under ThreadSanitizer"
tk_log "test_shard_build (${TOKFS_TSAN_CASES:-12} random corpora, no fixed cases)"
TOKFS_TEST_FIXED=0 TOKFS_TEST_CASES=${TOKFS_TSAN_CASES:-12} "$build/test_shard_build" || tk_fail "test_shard_build under ThreadSanitizer"
tk_log "test_build_feed (the feeder thread between the readers and the pool)"
"$build/test_build_feed" || tk_fail "test_build_feed under ThreadSanitizer"
tk_log "test_cache (${TOKFS_TEST_OPS:-150} operations per hammer thread)"
"$build/test_cache" || tk_fail "test_cache under ThreadSanitizer"
tk_log "test_cache_early"
"$build/test_cache_early" || tk_fail "test_cache_early under ThreadSanitizer"
tk_log "ok"
