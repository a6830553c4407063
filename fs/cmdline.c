/* The environment and SOURCE, read the same way by every command (cmdline.h). */
#include "cmdline.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/hf.h"
#include "source/s3.h"
#include "source/url.h"

int tokfs_config_from_environment(tokfs_config *cfg, tokfs_err *err)
{
    const char *region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    struct { const char *value; char **slot; } vars[] = {
        {getenv("HF_ENDPOINT"), &cfg->hf_endpoint},
        {getenv("HF_TOKEN"), &cfg->hf_token},
        {getenv("AWS_ENDPOINT_URL"), &cfg->s3_endpoint},
        {region, &cfg->s3_region},
        {getenv("AWS_ACCESS_KEY_ID"), &cfg->s3_access_key},
        {getenv("AWS_SECRET_ACCESS_KEY"), &cfg->s3_secret_key},
        {getenv("AWS_SESSION_TOKEN"), &cfg->s3_session_token},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (vars[i].value && *vars[i].value && !(*vars[i].slot = strdup(vars[i].value)))
            return tokfs_err_set(err, ENOMEM, "out of memory");
    return 0;
}

int tokfs_resolve_source(const char *given, char **out, tokfs_err *err)
{
    const char *path = given[0] == '@' ? given + 1 : given;
    if (!tokfs_url_is_local(path) || tokfs_hf_is_source(given) || tokfs_s3_is_source(given)) {
        *out = strdup(given);
        return *out ? 0 : -ENOMEM;
    }
    char abs_path[PATH_MAX];
    if (!realpath(path, abs_path))
        return tokfs_err_set(err, errno, "cannot open SOURCE %s: %s", path, strerror(errno));
    size_t len = strlen(abs_path) + 2;
    if (!(*out = malloc(len)))
        return -ENOMEM;
    snprintf(*out, len, "%s%s", given[0] == '@' ? "@" : "", abs_path);
    return 0;
}
