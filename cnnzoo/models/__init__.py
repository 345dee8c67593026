"""Model families; importing this package registers every family's builders."""

from cnnzoo.models import alexnet, cifar_resnet, lenet, vgg, wu2016  # noqa: F401
