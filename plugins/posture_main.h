/* `aiwatchd posture`: run every posture check once and print a report (posture_main.c).
 * argv[0] is "posture"; returns the command's exit code (0 every check passed, 3 some
 * check failed or could not be evaluated, 1 configuration or read error, 2 usage). */
#ifndef AW_POSTURE_MAIN_H
#define AW_POSTURE_MAIN_H

#define AW_POSTURE_EXIT_FINDINGS 3

int aw_posture_main(int argc, char **argv);

#endif
