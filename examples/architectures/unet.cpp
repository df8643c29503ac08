// Model program unet: the one source file cnnc_add_model(unet ...) needs.
#include "unet.h"

CNNC_MODEL(cnnc::arch::unet)
