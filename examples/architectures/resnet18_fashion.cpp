// Model program resnet18_fashion: ResNet-18 adapted to 28x28 Fashion-MNIST, built with training.
#include "resnet.h"

CNNC_MODEL(cnnc::arch::resnet18_fashion)
