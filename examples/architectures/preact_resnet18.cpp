// Model program preact_resnet18: the one source file cnnc_add_model(preact_resnet18 ...) needs.
#include "resnet.h"

CNNC_MODEL(cnnc::arch::preact_resnet18)
