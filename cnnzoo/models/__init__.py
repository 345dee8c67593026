"""Model families; importing this package registers every family's builders."""

from cnnzoo.models import (  # noqa: F401
    alexnet,
    cifar_resnet,
    googlenet,
    imagenet_resnet,
    inception,
    inception_resnet,
    lenet,
    vgg,
    wu2016,
    xception,
)
