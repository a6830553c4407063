/* tokfs encode / tokfs decode (fs/subcommands.c), tokfs build (fs/build_cmd.c) and tokfs
 * status (fs/status_cmd.c). Each returns the process exit status. */
#ifndef TOKFS_SUBCOMMANDS_H
#define TOKFS_SUBCOMMANDS_H

int tokfs_cmd_encode(int argc, char **argv);
int tokfs_cmd_decode(int argc, char **argv);
int tokfs_cmd_build(int argc, char **argv);
int tokfs_cmd_status(int argc, char **argv);

#endif
