t_floor = 2.7255
t_bridge = 4.3372
t_cost = 54.00
