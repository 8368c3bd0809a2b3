/* main.c - auth-service entry point. */
#include "daemon.h"

extern const struct service_def auth_service;

int main(int argc, char **argv)
{
    return daemon_run(&auth_service, argc, argv);
}
