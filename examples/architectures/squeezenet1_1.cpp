// Model program squeezenet1_1: the one source file cnnc_add_model(squeezenet1_1 ...) needs.
#include "squeezenet.h"

CNNC_MODEL(cnnc::arch::squeezenet1_1)
