# ExCEL's MS COCO texts (zwyang6/ExCEL @ 2cd7f51, model/model_excel.py with num_classes 81):
# the 23 COCO background words (datasets/clip_text.py BACKGROUND_CATEGORY_COCO), the prompt
# texts of the classes of ovperception/classnames/excel/coco81.txt that differ from their names
# (new_class_names_coco), and the attribute bank of 224 k-means clusters of the GPT-4
# descriptions of the 80 classes (scripts/train_coco.py --attr_json / --num_attri; the JSON is
# the repository's data, not shipped: it has no licence; put its
# attributes_text/descriptors_ms_coco_gpt4.0_cluster_a_photo_of4.json at the path below).
# Written out (values, not imports: a dumped config keeps them); equal to
# ovperception.models.segmentation.excel COCO_BACKGROUND_WORDS / COCO_PROMPT_NAMES.
excel_coco_text = dict(
    descriptions_file='data/excel/descriptors_ms_coco_gpt4.0_cluster_a_photo_of4.json',
    num_attribute_clusters=224,
    excel_background_words=(
        'ground', 'land', 'grass', 'tree', 'building', 'wall', 'sky', 'lake', 'water', 'river',
        'sea', 'railway', 'railroad', 'helmet', 'cloud', 'house', 'mountain', 'ocean', 'road',
        'rock', 'street', 'valley', 'bridge'),
    prompt_names={
        'person': 'person with clothes,people,human', 'bird': 'bird avian',
        'backpack': 'backpack,bag', 'umbrella': 'umbrella,parasol', 'handbag': 'handbag,purse',
        'tie': 'necktie', 'snowboard': 'sknowboard', 'baseball glove': 'glove',
        'spoon': 'dessertspoon', 'chair': 'chair seat', 'tvmonitor': 'tvmonitor screen',
        'remote': 'remote control', 'hair drier': 'hairdrier,blowdrier'})
# the seg head on the 81 COCO classes (background first), the head of excel_vitb16.py otherwise
excel_coco_head_classes = 'excel/coco81'
