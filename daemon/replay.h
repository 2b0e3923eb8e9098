/* Offline commands: `aiwatchd replay` and `aiwatchd rules list`. Each takes the
 * command's own argv (argv[0] is the command name) and returns an aw_exit code. */
#ifndef AW_REPLAY_H
#define AW_REPLAY_H

int aw_replay_main(int argc, char **argv);
int aw_rules_main(int argc, char **argv);

#endif
