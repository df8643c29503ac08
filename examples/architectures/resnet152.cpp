// Model program resnet152: the one source file cnnc_add_model(resnet152 ...) needs.
#include "resnet.h"

CNNC_MODEL(cnnc::arch::resnet152)
