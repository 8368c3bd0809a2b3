/* main.c - api-gateway. */
#include "gateway.h"

int main(int argc, char **argv)
{
    return gw_run(argc, argv);
}
