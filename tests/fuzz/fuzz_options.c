/* Option and size parsing: "key=value,key=value..." through tokfs_config_set, and the raw number
 * parsers. A refusal always names the option; nothing crashes or leaks. */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    uint64_t v;
    tokfs_parse_size(text, &v);
    tokfs_parse_count(text, &v);
    tokfs_parse_duration_ms(text, &v);
    tokfs_config cfg;
    tokfs_err err;
    if (tokfs_config_init(&cfg, "/tmp", "/root", &err))
        abort();
    char *save = NULL;
    for (char *opt = strtok_r(text, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (eq)
            *eq = 0;
        err.msg[0] = 0;
        int rc = tokfs_config_set(&cfg, opt, eq ? eq + 1 : NULL, &err);
        if (rc && rc != -2 /* ENOENT: not ours */ && !err.msg[0] && rc != -12)
            abort();
    }
    tokfs_config_finish(&cfg, &err);
    tokfs_config_free(&cfg);
    free(text);
    return 0;
}
