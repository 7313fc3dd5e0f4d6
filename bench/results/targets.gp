t_floor = 2.7041
t_bridge = 4.2743
t_cost = 58.00
t_nat = 1.6385
