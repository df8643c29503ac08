// Model program alexnet: the one source file cnnc_add_model(alexnet ...) needs.
#include "alexnet.h"

CNNC_MODEL(cnnc::arch::alexnet)
