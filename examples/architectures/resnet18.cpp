// Model program resnet18: the one source file cnnc_add_model(resnet18 ...) needs.
#include "resnet.h"

CNNC_MODEL(cnnc::arch::resnet18)
