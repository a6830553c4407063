/* tokfs encode / tokfs decode (fs/subcommands.c). Both return the process exit status. */
#ifndef TOKFS_SUBCOMMANDS_H
#define TOKFS_SUBCOMMANDS_H

int tokfs_cmd_encode(int argc, char **argv);
int tokfs_cmd_decode(int argc, char **argv);

#endif
