/* PLACEHOLDER: replaced by the real subcommand. */
#include "cli.h"

int cl_cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cl_cli_fail(2, "'eval' is not implemented yet");
}
