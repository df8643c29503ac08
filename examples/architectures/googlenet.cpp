// Model program googlenet: the one source file cnnc_add_model(googlenet ...) needs.
#include "inception.h"

CNNC_MODEL(cnnc::arch::googlenet)
