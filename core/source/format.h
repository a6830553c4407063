/* tokfs — what a source file is, from its name: its kind (text, JSON lines, Parquet) and the codec
 * wrapped around it (.zst, .gz). Used when listing (a directory, an @LIST, the hub: files tokfs
 * does not read are left out), when planning and when building. */
#ifndef TOKFS_FORMAT_H
#define TOKFS_FORMAT_H

enum tokfs_codec {
    TOKFS_CODEC_NONE = 0,
    TOKFS_CODEC_ZSTD = 1, /* .zst: any number of frames, skippable frames skipped */
    TOKFS_CODEC_GZIP = 2, /* .gz: any number of members, zero padding after a member skipped */
};

enum tokfs_format {
    TOKFS_FORMAT_TXT = 1,   /* the whole file is one document */
    TOKFS_FORMAT_JSONL = 2, /* one JSON object per line; document = member text_field */
    TOKFS_FORMAT_PARQUET = 3, /* Parquet; document = each non-null value of column text_field */
    /* Pre-tokenized sources (docs/pretokenized.md): token ids, not text. */
    TOKFS_FORMAT_TOKENS_BIN = 4, /* .bin: llm.c's header (by its magic), else src_dtype= ids */
    TOKFS_FORMAT_TOKENS_NPY = 5, /* .npy: a 1-D array of uint16 / uint32 ids */
};

/* A source's format is its kind (enum tokfs_format) plus, for a compressed file, its codec
 * (enum tokfs_codec) shifted by TOKFS_FORMAT_CODEC_SHIFT: "x.jsonl.zst" is
 * TOKFS_FORMAT_JSONL | TOKFS_CODEC_ZSTD << 8. Uncompressed formats keep their old values. */
#define TOKFS_FORMAT_CODEC_SHIFT 8
static inline int tokfs_format_kind(int format) { return format & 0xff; }
static inline int tokfs_format_codec(int format) { return format >> TOKFS_FORMAT_CODEC_SHIFT; }
/* 1 when the source holds token ids (a .bin or .npy, plain or compressed), not text. */
static inline int tokfs_format_is_tokens(int format)
{
    return tokfs_format_kind(format) == TOKFS_FORMAT_TOKENS_BIN ||
           tokfs_format_kind(format) == TOKFS_FORMAT_TOKENS_NPY;
}

/* Format of a file name from its extension, or 0 when tokfs does not read it: .txt, .jsonl,
 * .ndjson, and those or .json (JSON lines) followed by .zst or .gz; .parquet; token ids in .bin and
 * .npy files, plain or followed by .zst or .gz. */
int tokfs_format_from_name(const char *name);

#endif
