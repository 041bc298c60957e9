"""Networks from specs: the layer registry, genkit blocks and the network builder.

`build_network(name, network_spec, input_shape=...)` turns one `NetworkSpec` (a layer list
or a graph) into a functional `keras.Model`. Layer names are those of `keras.layers` plus
the genkit blocks (`list_layers()`); importing this package registers the blocks.
"""

from genkit.nets.blocks import ConcatCondition, LabelEmbedding, Sampling
from genkit.nets.builder import build_network
from genkit.nets.registry import get_layer_class, is_block, list_blocks, list_layers, register_block
from genkit.nets.summary import count_params, summarize

__all__ = [
    "ConcatCondition",
    "LabelEmbedding",
    "Sampling",
    "build_network",
    "count_params",
    "get_layer_class",
    "is_block",
    "list_blocks",
    "list_layers",
    "register_block",
    "summarize",
]
