/* tokfs — what every command takes from its environment and arguments the same way, so that a
 * mount and `tokfs build` of the same SOURCE and options have the same plan identity and send
 * the same credentials (fs/cmdline.c). */
#ifndef TOKFS_CMDLINE_H
#define TOKFS_CMDLINE_H

#include "common/config.h"
#include "common/error.h"

/* HF_ENDPOINT, HF_TOKEN (the hub, as huggingface_hub reads them), AWS_ENDPOINT_URL, AWS_REGION /
 * AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (S3, as the
 * AWS tools read them) into cfg. Call before applying options: s3_endpoint= and s3_region= win.
 * 0 or -ENOMEM. */
int tokfs_config_from_environment(tokfs_config *cfg, tokfs_err *err);

/* SOURCE in the form the plan identity uses: local paths (and @LIST paths) made absolute, so
 * the same corpus named from another directory is the same plan; URLs as given. *out is
 * malloc'd. 0, -ENOMEM, or the errno of a local path that does not exist (with a message). */
int tokfs_resolve_source(const char *given, char **out, tokfs_err *err);

#endif
