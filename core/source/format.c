/* File formats from names: see format.h. */
#include "source/format.h"

#include <string.h>
#include <strings.h>

int tokfs_format_from_name(const char *name)
{
    /* The name ends where a URL's query or fragment starts (which may itself contain '/'). */
    size_t name_len = strcspn(name, "?#");
    const char *base = name;
    for (size_t i = 0; i < name_len; i++)
        if (name[i] == '/')
            base = name + i + 1;
    size_t len = name_len - (size_t)(base - name);
    /* A compression suffix wraps the format's own: "part-0.jsonl.zst", "x.json.gz". */
    struct { const char *ext; int codec; } codecs[] = {
        {".zst", TOKFS_CODEC_ZSTD}, {".gz", TOKFS_CODEC_GZIP},
    };
    int codec = TOKFS_CODEC_NONE;
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
        size_t elen = strlen(codecs[i].ext);
        if (len > elen && strncasecmp(base + len - elen, codecs[i].ext, elen) == 0) {
            codec = codecs[i].codec;
            len -= elen;
            break;
        }
    }
    /* ".json" only compressed (Dolma's .json.gz are JSON lines): a bare .json is usually one
     * JSON document (or a dataset's metadata file next to its data). */
    struct { const char *ext; int format; int compressed_only; } table[] = {
        {".txt", TOKFS_FORMAT_TXT, 0}, {".jsonl", TOKFS_FORMAT_JSONL, 0},
        {".ndjson", TOKFS_FORMAT_JSONL, 0}, {".json", TOKFS_FORMAT_JSONL, 1},
        {".bin", TOKFS_FORMAT_TOKENS_BIN, 0}, {".npy", TOKFS_FORMAT_TOKENS_NPY, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t elen = strlen(table[i].ext);
        if (len > elen && strncasecmp(base + len - elen, table[i].ext, elen) == 0 &&
            (codec != TOKFS_CODEC_NONE || !table[i].compressed_only))
            return table[i].format | codec << TOKFS_FORMAT_CODEC_SHIFT;
    }
    /* Parquet compresses inside (per column chunk): a .parquet.gz is not read. */
    if (codec == TOKFS_CODEC_NONE && len > 8 && strncasecmp(base + len - 8, ".parquet", 8) == 0)
        return TOKFS_FORMAT_PARQUET;
    return 0;
}
