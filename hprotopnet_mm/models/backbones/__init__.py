from .resnet2plus1d_torchvision import (ResNet2Plus1dTorchvision,
                                        factorised_mid_channels)
from .torchvision_weights import rename_torchvision_state_dict

__all__ = [
    'ResNet2Plus1dTorchvision', 'factorised_mid_channels',
    'rename_torchvision_state_dict'
]
