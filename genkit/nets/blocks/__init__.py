"""genkit blocks: layers a spec may name beside Keras's own, one per module.

Importing this package registers every block with `genkit.nets.registry`.
"""

from genkit.nets.blocks.concat_condition import ConcatCondition
from genkit.nets.blocks.equalized_conv2d import EqualizedConv2D
from genkit.nets.blocks.equalized_dense import EqualizedDense
from genkit.nets.blocks.label_embedding import LabelEmbedding
from genkit.nets.blocks.learned_constant import LearnedConstant
from genkit.nets.blocks.minibatch_discrimination import MinibatchDiscrimination
from genkit.nets.blocks.minibatch_stddev import MinibatchStdDev
from genkit.nets.blocks.modulated_conv2d import ModulatedConv2D
from genkit.nets.blocks.noise_injection import NoiseInjection
from genkit.nets.blocks.pixel_normalization import PixelNormalization
from genkit.nets.blocks.res_block import ResBlock
from genkit.nets.blocks.sampling import Sampling
from genkit.nets.blocks.self_attention_2d import SelfAttention2D
from genkit.nets.blocks.sinusoidal_embedding import SinusoidalEmbedding
from genkit.nets.blocks.virtual_batch_norm import VirtualBatchNormalization

__all__ = ["ConcatCondition", "EqualizedConv2D", "EqualizedDense", "LabelEmbedding", "LearnedConstant", "MinibatchDiscrimination", "MinibatchStdDev", "ModulatedConv2D", "NoiseInjection", "PixelNormalization", "ResBlock", "Sampling", "SelfAttention2D", "SinusoidalEmbedding", "VirtualBatchNormalization"]
