"""tf.data input pipelines: dataset sources, augmentation and evaluation views.

Pipelines know nothing of models: they yield float32 images in [0, 255] and
integer labels; the preprocessing a recipe asks for is part of the trained model.
"""
