t_floor = 2.8730
t_bridge = 4.4941
t_cost = 52.00
