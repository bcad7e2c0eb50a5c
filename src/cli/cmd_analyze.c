/* PLACEHOLDER: replaced by the real subcommand. */
#include "cli.h"

int cl_cmd_analyze(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cl_cli_fail(2, "'analyze' is not implemented yet");
}
