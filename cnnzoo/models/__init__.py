"""Model families; importing this package registers every family's builders."""

from cnnzoo.models import cifar_resnet  # noqa: F401
