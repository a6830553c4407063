/* The GPT-2 ranks (core/tokenize/data/gpt2.tiktoken), embedded in the program with the assembler's
 * .incbin so tokenizer=gpt2 works with no file and no network. TOKFS_GPT2_DATA is the absolute
 * path of the data file, set by CMakeLists.txt. */
#include <stddef.h>
#include <stdint.h>

#ifndef TOKFS_GPT2_DATA
#error "TOKFS_GPT2_DATA must name core/tokenize/data/gpt2.tiktoken"
#endif

__asm__(".section .rodata\n"
        ".balign 16\n"
        "tokfs_gpt2_ranks_start:\n"
        ".incbin \"" TOKFS_GPT2_DATA "\"\n"
        "tokfs_gpt2_ranks_end:\n"
        ".previous\n");

extern const uint8_t tokfs_gpt2_ranks_start[] __asm__("tokfs_gpt2_ranks_start");
extern const uint8_t tokfs_gpt2_ranks_end[] __asm__("tokfs_gpt2_ranks_end");

const uint8_t *tokfs_gpt2_ranks(size_t *len)
{
    *len = (size_t)(tokfs_gpt2_ranks_end - tokfs_gpt2_ranks_start);
    return tokfs_gpt2_ranks_start;
}
